"""WorkerPool against eventlet.GreenPool and ThreadPoolExecutor, side by
side in one run.

Run: python benchmarks/bench_workers.py [--quick]

eventlet (100 workers each):
  * spawn + wait: 10,000 tiny tasks spawned, then every result waited for;
  * imap over 10,000 items;
  ours as ``WorkerPool(100)`` (a queue without bound) and as
  ``WorkerPool(100, qsize=0)`` (GreenPool's own rule: a spawn waits for a
  free worker).
threads (16 workers each), ours ``WorkerPool(16, backend="threads")``
against ``concurrent.futures.ThreadPoolExecutor(16)``:
  * 10,000 tiny tasks submitted, then every result waited for;
  * 2,000 I/O-bound tasks (each sleeps 1 ms).
asyncio (16 worker threads each): 10,000 tiny functions gathered through
``await pool.complete(...)`` (``AsyncWorkerPool(16)``) against
``loop.run_in_executor`` on a ``ThreadPoolExecutor(16)``.
Each figure is tasks/s, the median of rounds in which the peers alternate;
the ratio is ours / theirs per round (median and range).
Targets: at least 1.0x the peer in every row.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import statistics
import sys
import time
import warnings
from typing import Any, Callable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from timing import record

from eventlet_pools import AsyncWorkerPool, WorkerPool


def tiny(n: int) -> int:
    return n + 1


def io_bound(n: int) -> int:
    time.sleep(0.001)
    return n


def spawn_wait(make: Callable[[], Any], count: int) -> Callable[[], float]:
    def run() -> float:
        pool = make()
        started = time.perf_counter()
        waiters = [pool.spawn(tiny, n) for n in range(count)]
        assert [w.wait() for w in waiters][-1] == count
        elapsed = time.perf_counter() - started
        _stop(pool)
        return count / elapsed

    return run


def imap_over(make: Callable[[], Any], count: int) -> Callable[[], float]:
    def run() -> float:
        pool = make()
        started = time.perf_counter()
        total = sum(pool.imap(tiny, range(count)))
        elapsed = time.perf_counter() - started
        assert total == count * (count + 1) // 2
        _stop(pool)
        return count / elapsed

    return run


def submit_wait(make: Callable[[], Any], fn: Callable[[int], int], count: int) -> Callable[[], float]:
    def run() -> float:
        pool = make()
        started = time.perf_counter()
        futures = [pool.submit(fn, n) for n in range(count)]
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - started
        _stop(pool)
        return count / elapsed

    return run


def async_gather(ours: bool, count: int) -> Callable[[], float]:
    def run() -> float:
        async def main() -> float:
            if ours:
                pool = AsyncWorkerPool(16)
                started = time.perf_counter()
                results = await asyncio.gather(*(pool.complete(tiny, n) for n in range(count)))
                elapsed = time.perf_counter() - started
                await pool.shutdown(timeout=30)
            else:
                executor = concurrent.futures.ThreadPoolExecutor(16)
                loop = asyncio.get_running_loop()
                started = time.perf_counter()
                calls = (loop.run_in_executor(executor, tiny, n) for n in range(count))
                results = await asyncio.gather(*calls)
                elapsed = time.perf_counter() - started
                executor.shutdown(wait=True)
            assert results[-1] == count
            return count / elapsed

        return asyncio.run(main())

    return run


def _stop(pool: Any) -> None:
    if isinstance(pool, WorkerPool):
        pool.shutdown(timeout=30)
    elif isinstance(pool, concurrent.futures.Executor):
        pool.shutdown(wait=True)
    else:  # GreenPool
        pool.waitall()


def compare(rows: dict[str, dict[str, Callable[[], float]]], rounds: int) -> None:
    for title, peers in rows.items():
        rates: dict[str, list[float]] = {name: [] for name in peers}
        for _ in range(rounds):
            for name, run in peers.items():
                rates[name].append(run())
        names = list(peers)
        base = names[0]
        print(title)
        for name in names:
            line = f"  {name:34s} {statistics.median(rates[name]):12.0f} tasks/s"
            if name != base:
                ratios = [o / t for o, t in zip(rates[name], rates[base])]
                line += (
                    f"   {statistics.median(ratios):.2f}x {base}"
                    f" (rounds {min(ratios):.2f}-{max(ratios):.2f}x)"
                )
                record(f"{title}: {name}, tasks/s", base, statistics.median(ratios), "higher")
            print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer tasks and rounds: a smoke run")
    args = parser.parse_args(argv)
    count, io_count, rounds = (1_000, 200, 2) if args.quick else (10_000, 2_000, 7)

    def green_pool() -> Any:
        return eventlet.GreenPool(100)

    def ours_queue() -> Any:
        return WorkerPool(100, backend="eventlet")

    def ours_qsize0() -> Any:
        return WorkerPool(100, qsize=0, backend="eventlet")

    def executor() -> Any:
        return concurrent.futures.ThreadPoolExecutor(16)

    def ours_threads() -> Any:
        return WorkerPool(16, backend="threads")

    rows = {
        f"eventlet: spawn + wait, {count:,} tiny tasks, 100 workers": {
            "GreenPool(100)": spawn_wait(green_pool, count),
            "WorkerPool(100)": spawn_wait(ours_queue, count),
            "WorkerPool(100, qsize=0)": spawn_wait(ours_qsize0, count),
        },
        f"eventlet: imap over {count:,} items, 100 workers": {
            "GreenPool(100)": imap_over(green_pool, count),
            "WorkerPool(100)": imap_over(ours_queue, count),
            "WorkerPool(100, qsize=0)": imap_over(ours_qsize0, count),
        },
        f"threads: submit + result, {count:,} tiny tasks, 16 workers": {
            "ThreadPoolExecutor(16)": submit_wait(executor, tiny, count),
            "WorkerPool(16, backend='threads')": submit_wait(ours_threads, tiny, count),
        },
        f"threads: {io_count:,} tasks sleeping 1 ms, 16 workers": {
            "ThreadPoolExecutor(16)": submit_wait(executor, io_bound, io_count),
            "WorkerPool(16, backend='threads')": submit_wait(ours_threads, io_bound, io_count),
        },
        f"asyncio: {count:,} tiny functions gathered, 16 threads": {
            "run_in_executor(ThreadPoolExecutor(16))": async_gather(False, count),
            "AsyncWorkerPool(16).complete": async_gather(True, count),
        },
    }
    compare(rows, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
