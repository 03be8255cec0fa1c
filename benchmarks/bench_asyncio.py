"""Pool(backend='asyncio') against what asyncio programs use instead, in one run.

Run: python benchmarks/bench_asyncio.py [--quick]
(needs ``pip install anyio``)

Peers, each handing out the same cheap objects, up to 10 alive at once:
  * ``asyncio.Queue``: a queue of free items, created on demand up to 10;
  * ``asyncio.Semaphore`` + list: the semaphore bounds the holders, a list
    keeps the free items (FIFO-fair on Python 3.11 and later);
  * ``anyio.CapacityLimiter`` + list: the same with anyio's limiter;
  * ours: ``await pool.aget()`` / ``pool.put(item)``.

Measures (peers alternate round by round, so drift hits all alike):
  * uncontended get + put from one task: ns per cycle (lower is better);
  * 1,000 tasks sharing 10 items, each holding its item for one
    ``asyncio.sleep(0)`` and, in a second table, for ``asyncio.sleep(0.001)``:
    cycles/s (higher is better) and the p50/p99 wait of each get;
  * FIFO descents: 200 tasks queue one by one behind a held item, which
    then goes round; how often was one served before a task that queued
    earlier (0 means strict FIFO).
Targets: with a sleep(0) hold, at least 1.0x the Semaphore + list and
2.0x anyio's cycles/s; with a 1 ms hold, at least 1.0x every peer.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable
from typing import Any, Callable

import anyio
from timing import percentile, record

from eventlet_pools import Pool


class Item:
    """What every peer hands out."""


Get = Callable[[], Awaitable[Any]]
Put = Callable[[Any], None]
Make = Callable[[int], tuple[Get, Put]]


def ours(size: int) -> tuple[Get, Put]:
    pool: Pool[Item] = Pool(max_size=size, create=Item, backend="asyncio")
    return pool.aget, pool.put


def queue_based(size: int) -> tuple[Get, Put]:
    free: asyncio.Queue[Item] = asyncio.Queue()
    made = [0]

    async def get() -> Item:
        if free.empty() and made[0] < size:
            made[0] += 1
            return Item()
        return await free.get()

    return get, free.put_nowait


def limiter_based(make_limit: Callable[[int], Any]) -> Make:
    """A limit (asyncio.Semaphore or anyio.CapacityLimiter: both have
    ``await acquire()`` and ``release()``) bounding the holders, and a list
    keeping the free items."""

    def make(size: int) -> tuple[Get, Put]:
        limit = make_limit(size)
        free: list[Item] = []

        async def get() -> Item:
            await limit.acquire()
            return free.pop() if free else Item()

        def put(item: Item) -> None:
            free.append(item)
            limit.release()

        return get, put

    return make


semaphore_based = limiter_based(asyncio.Semaphore)
anyio_based = limiter_based(anyio.CapacityLimiter)


#: How the figures name each peer (benchmarks/run_all.py's tables).
FULL_NAMES = {
    "asyncio.Queue": "asyncio.Queue",
    "Semaphore+list": "asyncio.Semaphore + list",
    "anyio limiter": "anyio.CapacityLimiter + list",
}

PEERS: dict[str, Make] = {
    "asyncio.Queue": queue_based,
    "Semaphore+list": semaphore_based,
    "anyio limiter": anyio_based,
    "ours": ours,
}


async def uncontended(make: Make, loops: int) -> float:
    get, put = make(10)
    put(await get())
    started = time.perf_counter_ns()
    for _ in range(loops):
        put(await get())
    return (time.perf_counter_ns() - started) / loops


async def contended(make: Make, tasks: int, cycles: int, hold: float) -> tuple[float, list[float]]:
    """cycles/s over all tasks, and every get's wait in seconds."""
    get, put = make(10)
    waits: list[float] = []
    clock = time.perf_counter

    async def worker() -> None:
        for _ in range(cycles):
            asked = clock()
            item = await get()
            waits.append(clock() - asked)
            await asyncio.sleep(hold)
            put(item)

    started = clock()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return tasks * cycles / (clock() - started), waits


async def queued_descents(make: Make, tasks: int) -> int:
    get, put = make(1)
    held = await get()
    served: list[int] = []

    async def waiter(n: int) -> None:
        item = await get()
        served.append(n)
        await asyncio.sleep(0)
        put(item)

    running = []
    for n in range(tasks):
        running.append(asyncio.create_task(waiter(n)))
        await asyncio.sleep(0)  # it is parked before the next one comes
    put(held)
    await asyncio.gather(*running)
    return sum(1 for a, b in zip(served, served[1:]) if b < a)


async def table(hold: float, cycles: int, rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {name: [] for name in PEERS}
    waits: dict[str, list[float]] = {name: [] for name in PEERS}
    for _ in range(rounds):
        for name, make in PEERS.items():
            rate, round_waits = await contended(make, 1000, cycles, hold)
            rates[name].append(rate)
            waits[name].extend(round_waits)
    label = "sleep(0)" if hold == 0 else f"sleep({hold})"
    print(f"1000 tasks / 10 items, hold {label}: cycles/s (best, median of {rounds}), wait p50/p99 ms")
    for name in PEERS:
        ordered = sorted(waits[name])
        p50, p99 = percentile(ordered, 0.5) * 1e3, percentile(ordered, 0.99) * 1e3
        print(
            f"  {name:16s} {max(rates[name]):10.0f} {statistics.median(rates[name]):10.0f}"
            f"   p50 {p50:8.3f}  p99 {p99:8.3f}"
        )
    for name in PEERS:
        if name != "ours":
            ratios = [o / t for o, t in zip(rates["ours"], rates[name])]
            print(
                f"  ours / {name:16s} {min(ratios):.2f}-{max(ratios):.2f}x per round,"
                f" median {statistics.median(ratios):.2f}x"
            )
            median = statistics.median(ratios)
            record(f"1000 tasks / 10 items, hold {label}, cycles/s", FULL_NAMES[name], median, "higher")
    return rates


async def main_async(quick: bool) -> None:
    loops, rounds = (2_000, 2) if quick else (100_000, 5)
    best: dict[str, float] = {name: float("inf") for name in PEERS}
    for _ in range(3 if quick else 7):
        for name, make in PEERS.items():
            best[name] = min(best[name], await uncontended(make, loops))
    print("uncontended get + put, ns per cycle (best)")
    for name in PEERS:
        print(f"  {name:16s} {best[name]:10.0f}   ours/this {best['ours'] / best[name]:.2f}x")
        if name != "ours":
            record("uncontended get + put, time", FULL_NAMES[name], best["ours"] / best[name], "lower")
    await table(0, 2 if quick else 20, rounds)
    await table(0.001, 1 if quick else 5, rounds)
    print("FIFO descents, 200 queued tasks")
    descents = {name: await queued_descents(make, 200) for name, make in PEERS.items()}
    for name in PEERS:
        print(f"  {name:16s} {descents[name]:6d}")
        if name != "ours":
            record(
                "FIFO descents, 200 queued tasks", FULL_NAMES[name], descents["ours"], "fewer", descents[name]
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer loops: a smoke run")
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
