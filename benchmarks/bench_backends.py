"""Each backend of Pool against its natural peer, side by side in one run.

Run: python benchmarks/bench_backends.py [--quick]
(needs ``pip install sqlalchemy``)

Threads: ``Pool(backend='threads')`` against SQLAlchemy's QueuePool.
asyncio: ``Pool(backend='asyncio')`` against the pool asyncio programs
write by hand, an ``asyncio.Queue`` of items created up to a limit
(``QueueBased`` below). The same measures for both, with tasks instead of
threads (1,000 tasks on 10 items).

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
Targets: no slower than the peer uncontended; FIFO under
contention where the peer is not.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from typing import Any, Callable

from sqlalchemy.pool import QueuePool
from timing import best_ns_per_op, percentile, record

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


class QueueBased:
    """The usual hand-written asyncio pool: an asyncio.Queue of free items,
    created on demand up to ``size``."""

    def __init__(self, size: int) -> None:
        self.free: asyncio.Queue[Connection] = asyncio.Queue()
        self.size = size
        self.made = 0

    async def get(self) -> Connection:
        if self.free.empty() and self.made < self.size:
            self.made += 1
            return Connection()
        return await self.free.get()

    def put(self, conn: Connection) -> None:
        self.free.put_nowait(conn)


AsyncMake = Callable[[int], tuple[Callable[[], Any], Callable[[Any], None]]]


def ours_async(size: int) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    pool: Pool[Connection] = Pool(max_size=size, create=lambda: Connection(), backend="asyncio")
    return pool.aget, pool.put


def theirs_async(size: int) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    pool = QueueBased(size)
    return pool.get, pool.put


async def async_uncontended(make: AsyncMake, loops: int, repeat: int) -> float:
    get, put = make(4)
    put(await get())
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        for _ in range(loops):
            put(await get())
        best = min(best, (time.perf_counter_ns() - started) / loops)
    return best


async def async_contended(make: AsyncMake, tasks: int, cycles: int) -> tuple[float, list[float]]:
    get, put = make(10)
    waits: list[float] = []

    async def worker() -> None:
        for _ in range(cycles):
            asked = time.perf_counter()
            conn = await get()
            waits.append(time.perf_counter() - asked)
            await asyncio.sleep(0)  # hold it across a loop turn
            put(conn)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return tasks * cycles / (time.perf_counter() - started), sorted(waits)


async def async_queued_descents(make: AsyncMake, tasks: int) -> int:
    get, put = make(1)
    held = await get()
    served: list[int] = []

    async def waiter(n: int) -> None:
        conn = await get()
        served.append(n)
        await asyncio.sleep(0)
        put(conn)

    running = []
    for n in range(tasks):
        running.append(asyncio.create_task(waiter(n)))
        await asyncio.sleep(0)
    put(held)
    await asyncio.gather(*running)
    return sum(1 for a, b in zip(served, served[1:]) if b < a)


async def asyncio_table(loops: int, repeat: int, cycles: int, rounds: int) -> None:
    peers: dict[str, AsyncMake] = {"asyncio.Queue": theirs_async, "ours": ours_async}
    best = {name: await async_uncontended(make, loops, repeat) for name, make in peers.items()}
    rates: dict[str, list[float]] = {name: [] for name in peers}
    waits: dict[str, list[float]] = {name: [] for name in peers}
    for _ in range(rounds):
        for name, make in peers.items():
            rate, round_waits = await async_contended(make, 1000, cycles)
            rates[name].append(rate)
            waits[name] = sorted(waits[name] + round_waits)
    descents = {name: await async_queued_descents(make, 200) for name, make in peers.items()}
    print_table(
        ("asyncio tasks", "asyncio.Queue"),
        ("uncontended aget+put", "1000 tasks / 10 items", "200 queued tasks"),
        best,
        rates,
        waits,
        descents,
    )


def print_table(
    names: tuple[str, str],
    rows: tuple[str, str, str],
    best: dict[str, float],
    rates: dict[str, list[float]],
    waits: dict[str, list[float]],
    descents: dict[str, int],
) -> None:
    """One backend's table: ``names`` is (title, peer); ``rows`` names the
    uncontended, contended and queued scenarios."""
    title, peer = names
    uncontended_row, contended_row, queued_row = rows
    print(f"{title:40s} {peer:>13s} {'ours':>12s} {'ours/theirs':>12s}")
    print(
        f"{'  ' + uncontended_row + ', ns per cycle':40s} {best[peer]:13.0f} {best['ours']:12.0f} "
        f"{best['ours'] / best[peer]:11.2f}x"
    )
    record(f"{title}: {uncontended_row}, time", peer, best["ours"] / best[peer], "lower")
    theirs_rate, ours_rate = max(rates[peer]), max(rates["ours"])
    print(
        f"{'  ' + contended_row + ', cycles/s':40s} {theirs_rate:13.0f} {ours_rate:12.0f} "
        f"{ours_rate / theirs_rate:11.2f}x"
    )
    record(f"{title}: {contended_row}, cycles/s", peer, ours_rate / theirs_rate, "higher")
    for label, fraction in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
        theirs_wait = percentile(waits[peer], fraction) * 1e3
        ours_wait = percentile(waits["ours"], fraction) * 1e3
        print(f"{'    wait ' + label + ' (ms)':40s} {theirs_wait:13.3f} {ours_wait:12.3f}")
    print(f"{'  FIFO descents, ' + queued_row:40s} {descents[peer]:13d} {descents['ours']:12d}")
    record(f"{title}: FIFO descents, {queued_row}", peer, descents["ours"], "fewer", descents[peer])


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
    print_table(
        ("native threads", "QueuePool"),
        ("uncontended get+put", "16 threads / 4 connections", "40 queued threads"),
        best,
        rates,
        waits,
        descents,
    )
    print()
    asyncio.run(asyncio_table(loops, repeat, cycles // 20 if not args.quick else 5, rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
