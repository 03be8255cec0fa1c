"""Pool(backend='threads') against SQLAlchemy's QueuePool, side by side.

Run: python benchmarks/bench_backends.py [--quick]
(needs ``pip install sqlalchemy``)

Both pools hand out the same cheap connection objects to native OS threads;
SQLAlchemy's QueuePool (a queue.Queue of connections behind a checkout
wrapper) is the pool most threaded Python servers use. For each:
  * uncontended get + put from one thread: ns per cycle (lower is better);
  * 16 threads sharing 4 connections, each holding its connection across a
    thread switch: cycles/s (higher is better), and the wait of each get
    (p50/p99/max: a pool that lets a returning thread barge ahead of those
    already waiting shows it in the tail);
  * FIFO descents: 40 threads queue one by one behind a held connection,
    which then goes round; how often was one served before a thread that
    queued earlier (0 means strict FIFO).
Targets (issue 6): no slower than the peer uncontended; FIFO under
contention where the peer is not.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any, Callable

from bench_core import best_ns_per_op
from sqlalchemy.pool import QueuePool

from eventlet_pools import Pool


class Connection:
    """The cheapest thing both pools accept as a DB-API connection."""

    def rollback(self) -> None:
        """Nothing to roll back."""

    def close(self) -> None:
        """Nothing to close."""


Make = Callable[[int], tuple[Callable[[], Any], Callable[[Any], None]]]


def ours(size: int) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    pool: Pool[Connection] = Pool(max_size=size, create=lambda: Connection(), backend="threads")
    return pool.get, pool.put


def theirs(size: int) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    # QueuePool's creator is typed to return a DB-API connection; this one
    # has only what the pool calls on it.
    creator: Any = Connection
    pool = QueuePool(creator, pool_size=size, max_overflow=0, timeout=30, reset_on_return=None)
    return pool.connect, lambda conn: conn.close()


def uncontended(make: Make) -> Callable[[int], None]:
    get, put = make(4)
    put(get())  # the first checkout creates; measure reuse only

    def run(loops: int) -> None:
        for _ in range(loops):
            put(get())

    return run


def contended(make: Make, threads: int, cycles: int) -> tuple[float, list[float]]:
    """cycles/s over all threads, and every get's wait in seconds, sorted."""
    get, put = make(4)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = []
        for _ in range(cycles):
            asked = time.perf_counter()
            conn = get()
            mine.append(time.perf_counter() - asked)
            time.sleep(0)  # hold it across a thread switch
            put(conn)
        with lock:
            waits.extend(mine)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    return threads * cycles / elapsed, sorted(waits)


def queued_descents(make: Make, threads: int) -> int:
    """Threads queue up one by one behind a held connection, which then goes
    round: how often was one served before a thread that queued earlier?"""
    get, put = make(1)
    held = get()
    served: list[int] = []

    def waiter(n: int) -> None:
        conn = get()
        served.append(n)
        put(conn)

    workers = []
    for n in range(threads):
        workers.append(threading.Thread(target=waiter, args=(n,)))
        workers[-1].start()
        time.sleep(0.005)  # let it block before the next one comes
    put(held)
    for thread in workers:
        thread.join()
    return sum(1 for a, b in zip(served, served[1:]) if b < a)


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer loops: a smoke run")
    args = parser.parse_args(argv)
    loops, repeat, cycles, rounds = (2_000, 3, 100, 1) if args.quick else (50_000, 7, 2_000, 3)

    best = best_ns_per_op({"QueuePool": uncontended(theirs), "ours": uncontended(ours)}, loops, repeat)
    rates: dict[str, list[float]] = {"QueuePool": [], "ours": []}
    waits: dict[str, list[float]] = {"QueuePool": [], "ours": []}
    for _ in range(rounds):  # alternating rounds: drift hits both alike
        for name, make in (("QueuePool", theirs), ("ours", ours)):
            rate, round_waits = contended(make, 16, cycles)
            rates[name].append(rate)
            waits[name] = sorted(waits[name] + round_waits)
    descents = {name: queued_descents(make, 40) for name, make in (("QueuePool", theirs), ("ours", ours))}
    title = "native threads"
    print(f"{title:40s} {'QueuePool':>12s} {'ours':>12s} {'ours/theirs':>12s}")
    print(
        f"{'  uncontended get+put, ns per cycle':40s} {best['QueuePool']:12.0f} {best['ours']:12.0f} "
        f"{best['ours'] / best['QueuePool']:11.2f}x"
    )
    theirs_rate, ours_rate = max(rates["QueuePool"]), max(rates["ours"])
    print(
        f"{'  16 threads / 4 connections, cycles/s':40s} {theirs_rate:12.0f} {ours_rate:12.0f} "
        f"{ours_rate / theirs_rate:11.2f}x"
    )
    for label, fraction in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        theirs_wait = percentile(waits["QueuePool"], fraction) * 1e3
        ours_wait = percentile(waits["ours"], fraction) * 1e3
        print(f"{'    wait ' + label + ' (ms)':40s} {theirs_wait:12.3f} {ours_wait:12.3f}")
    print(f"{'  FIFO descents, 40 queued threads':40s} {descents['QueuePool']:12d} {descents['ours']:12d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
