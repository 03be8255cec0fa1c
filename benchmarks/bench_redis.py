"""RedisTokenPool against py-cachify's pool, side by side, on a local Redis.

Run: python benchmarks/bench_redis.py [--quick]
(needs redis-server on PATH, and ``pip install py-cachify redis``)

Starts a redis-server of its own on a free loopback port, then measures for
both pools, in alternating rounds, an uncontended acquire + release cycle
on a pool of 3 through a green redis-py client:
  * cycles/s (higher is better) and the ratio ours/py-cachify;
  * round trips per cycle, counted on the client (each request sent and
    answered), and Redis commands per cycle (INFO commandstats).
Targets: >= 2x py-cachify's cycles/s; one round trip per acquire
and one per release.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any, Callable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from timing import record

from eventlet_pools.redis import RedisTokenPool
from eventlet_pools.redis.testing import RedisServer

green_redis: Any = eventlet.import_patched("redis")


class Counted:
    """Counts the requests a client sends (each one a round trip)."""

    def __init__(self) -> None:
        self.sent = 0
        connection_class = green_redis.connection.Connection
        original = connection_class.send_packed_command
        counter = self

        def send_packed_command(self: Any, command: Any, check_health: bool = True) -> Any:
            counter.sent += 1
            return original(self, command, check_health)

        connection_class.send_packed_command = send_packed_command


def commands_run(client: Any) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if not k.startswith("cmdstat_info"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer cycles: a smoke run")
    args = parser.parse_args(argv)
    cycles, rounds = (200, 2) if args.quick else (2000, 5)

    from py_cachify import init_cachify
    from py_cachify import pool as cachify_pool

    counted = Counted()
    with RedisServer() as server:
        client = green_redis.Redis(host=server.host, port=server.port)
        init_cachify(sync_client=client, prefix="bench-")
        ours = RedisTokenPool(client, "bench-ours", 3)
        theirs = cachify_pool(key="bench-theirs", max_size=3)

        def our_cycle() -> None:
            ours.put(ours.get())

        def their_cycle() -> None:
            with theirs:
                pass

        peers: dict[str, Callable[[], None]] = {"py-cachify": their_cycle, "ours": our_cycle}
        for cycle in peers.values():  # warm up: scripts loaded, connections open
            for _ in range(20):
                cycle()
        best = dict.fromkeys(peers, 0.0)
        sent = dict.fromkeys(peers, 0.0)
        commands = dict.fromkeys(peers, 0.0)
        for _ in range(rounds):
            for name, cycle in peers.items():
                client.config_resetstat()
                sent_before = counted.sent
                started = time.perf_counter()
                for _ in range(cycles):
                    cycle()
                elapsed = time.perf_counter() - started
                sent[name] = (counted.sent - sent_before) / cycles
                commands[name] = commands_run(client) / cycles
                best[name] = max(best[name], cycles / elapsed)
        # Ours, acquire and release counted apart.
        before = counted.sent
        token = ours.get()
        acquire_trips = counted.sent - before
        before = counted.sent
        ours.put(token)
        release_trips = counted.sent - before
        ours.close()

    title = "acquire + release, pool of 3, uncontended"
    print(f"{title:44s} {'py-cachify':>12s} {'ours':>12s} {'ours/theirs':>12s}")
    print(
        f"{'  cycles/s':44s} {best['py-cachify']:12.0f} {best['ours']:12.0f} "
        f"{best['ours'] / best['py-cachify']:11.2f}x"
    )
    print(f"{'  round trips per cycle':44s} {sent['py-cachify']:12.2f} {sent['ours']:12.2f}")
    # Commands as INFO commandstats counts them: a script's inner calls too.
    print(f"{'  Redis commands run per cycle':44s} {commands['py-cachify']:12.2f} {commands['ours']:12.2f}")
    print(f"ours: {acquire_trips} round trip(s) per acquire, {release_trips} per release")
    record(
        "acquire + release, pool of 3, cycles/s", "py-cachify", best["ours"] / best["py-cachify"], "higher"
    )
    record("Redis commands per cycle", "py-cachify", commands["ours"], "fewer", commands["py-cachify"])
    record("round trips per cycle", "py-cachify", sent["ours"], "fewer", sent["py-cachify"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
