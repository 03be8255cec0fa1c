"""Pool(backend='gevent') against the tools a gevent program would pick,
side by side in one run.

Run: python benchmarks/bench_gevent.py [--quick]
(needs ``pip install gevent``; never imports eventlet)

Peers, each handing out 10 items to gevent greenlets:
  * ``gevent.queue.Queue`` filled with the items (get / put);
  * ``gevent.lock.BoundedSemaphore(10)`` guarding a list of the items;
  * ours: ``Pool(max_size=10, create=..., backend='gevent')``.
For each:
  * uncontended get + put from one greenlet: ns per cycle (lower is better);
  * 1,000 greenlets sharing the 10 items, each holding its item across one
    ``gevent.sleep(0)``: cycles/s (higher is better; the median of rounds
    in which the peers alternate), and the wait of each get (p50/p99/max);
  * FIFO descents: 200 greenlets queue one by one behind a held item, which
    then goes round; how often one was served before a greenlet that queued
    earlier (0 means strict FIFO).
Targets: at least 1.0x each peer's cycles/s, uncontended and contended.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import gevent
import gevent.lock
import gevent.queue
from timing import best_ns_per_op, percentile, record

from eventlet_pools import Pool

Get = Callable[[], Any]
Put = Callable[[Any], None]
Make = Callable[[int], tuple[Get, Put]]


def queue_peer(size: int) -> tuple[Get, Put]:
    queue: gevent.queue.Queue[object] = gevent.queue.Queue()
    for _ in range(size):
        queue.put(object())
    return queue.get, queue.put


def semaphore_peer(size: int) -> tuple[Get, Put]:
    semaphore = gevent.lock.BoundedSemaphore(size)
    items = [object() for _ in range(size)]

    def get() -> Any:
        semaphore.acquire()
        return items.pop()

    def put(item: Any) -> None:
        items.append(item)
        semaphore.release()

    return get, put


def ours(size: int) -> tuple[Get, Put]:
    pool: Pool[object] = Pool(max_size=size, create=object, backend="gevent")
    return pool.get, pool.put


PEERS: dict[str, Make] = {"Queue": queue_peer, "BoundedSemaphore": semaphore_peer, "ours": ours}


def uncontended(make: Make) -> Callable[[int], None]:
    get, put = make(10)

    def run(loops: int) -> None:
        for _ in range(loops):
            put(get())

    return run


def contended(make: Make, greenlets: int, cycles: int) -> tuple[float, list[float]]:
    get, put = make(10)
    waits: list[float] = []
    clock = time.perf_counter
    sleep = gevent.sleep

    def worker() -> None:
        for _ in range(cycles):
            started = clock()
            item = get()
            waits.append(clock() - started)
            sleep(0)
            put(item)

    started = clock()
    gevent.joinall([gevent.spawn(worker) for _ in range(greenlets)], raise_error=True)
    elapsed = clock() - started
    assert len(waits) == greenlets * cycles
    waits.sort()
    return greenlets * cycles / elapsed, waits


def fifo_descents(make: Make, waiters: int) -> int:
    get, put = make(1)
    held = get()
    served: list[int] = []

    def waiter(index: int) -> None:
        item = get()
        served.append(index)
        put(item)

    greenlets = []
    for index in range(waiters):
        greenlets.append(gevent.spawn(waiter, index))
        gevent.sleep(0)  # it has queued before the next starts
    put(held)
    gevent.joinall(greenlets, raise_error=True)
    assert sorted(served) == list(range(waiters))
    return sum(1 for a, b in zip(served, served[1:]) if b < a)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer cycles: a smoke run")
    args = parser.parse_args(argv)
    loops, repeat, rounds, cycles = (2_000, 2, 2, 5) if args.quick else (100_000, 5, 7, 50)

    ns = best_ns_per_op({name: uncontended(make) for name, make in PEERS.items()}, loops, repeat)
    rates: dict[str, list[float]] = {name: [] for name in PEERS}
    waits: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, make in PEERS.items():
            rate, waits[name] = contended(make, 1000, cycles)
            rates[name].append(rate)
    descents = {name: fifo_descents(make, 200) for name, make in PEERS.items()}

    print(f"{'gevent, 10 items':36s} {'Queue':>12s} {'BoundedSem':>12s} {'ours':>12s}")
    print(f"{'  uncontended get+put (ns)':36s}" + "".join(f" {ns[name]:12.0f}" for name in PEERS))
    median = {name: statistics.median(values) for name, values in rates.items()}
    row = "".join(f" {median[name]:12.0f}" for name in PEERS)
    print(f"{'  1000 greenlets: cycles/s (median)':36s}{row}")
    for label, fraction in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        row = "".join(f" {percentile(waits[name], fraction) * 1000:12.3f}" for name in PEERS)
        print(f"{'  wait ' + label + ' (ms)':36s}{row}")
    print(f"{'  FIFO descents, 200 queued':36s}" + "".join(f" {descents[name]:12d}" for name in PEERS))
    for peer in ("Queue", "BoundedSemaphore"):
        per_round = [o / t for o, t in zip(rates["ours"], rates[peer])]
        print(
            f"ours/{peer}: uncontended time {ns['ours'] / ns[peer]:.2f}x, contended cycles/s "
            f"median {statistics.median(per_round):.2f}x (rounds {min(per_round):.2f}-{max(per_round):.2f}x)"
        )
        name = {"Queue": "gevent.queue.Queue", "BoundedSemaphore": "gevent.lock.BoundedSemaphore + list"}[
            peer
        ]
        record("uncontended get+put, time", name, ns["ours"] / ns[peer], "lower")
        record("1000 greenlets / 10 items, cycles/s", name, statistics.median(per_round), "higher")
        record("FIFO descents, 200 queued greenlets", name, descents["ours"], "fewer", descents[peer])
    assert "eventlet" not in sys.modules
    return 0


if __name__ == "__main__":
    sys.exit(main())
