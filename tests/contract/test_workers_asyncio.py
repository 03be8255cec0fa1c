"""WorkerPool on asyncio (AsyncWorkerPool): worker threads run plain
functions, tasks await them. complete/submit/map and friends, priority then
FIFO, the bounded queue (submit waits in line, submit_nowait raises),
wait_for_slot, cancellations of waiting producers, drain, shutdown, and a
storm of 10,000 calls with failures and cancellations."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar

import pytest

from eventlet_pools import AsyncWorkerPool, PoolClosed, PoolFull, PoolTimeout, WorkerPool

R = TypeVar("R")


def run(main: Callable[[], Awaitable[R]]) -> R:
    return asyncio.run(asyncio.wait_for(main(), 50))


async def occupy(pool: AsyncWorkerPool) -> tuple[threading.Event, Any]:
    """Submit a call that holds a worker thread until the returned gate is
    set; returns once it runs (and its future, whose result is "ran")."""
    gate = threading.Event()
    running = threading.Event()

    def block() -> str:
        running.set()
        gate.wait(20)
        return "ran"

    future = pool.submit_nowait(block)
    await asyncio.to_thread(running.wait, 20)
    return gate, future


async def until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


def test_workerpool_on_asyncio_is_an_async_worker_pool() -> None:
    async def main() -> None:
        pool: Any = WorkerPool(2, backend="asyncio")
        assert isinstance(pool, AsyncWorkerPool)
        async with pool:
            assert pool.backend == "asyncio"
            assert await pool.complete(divmod, 7, 2) == (3, 1)

    run(main)
    with pytest.raises(ValueError, match="runs on asyncio"):
        AsyncWorkerPool(2, backend="threads")


def test_complete_map_and_friends_keep_input_order_and_raise() -> None:
    async def main() -> None:
        async with AsyncWorkerPool(4) as pool:
            rng = random.Random(5)
            delays = [rng.choice([0, 0.001]) for _ in range(40)]

            def echo(n: int, delay: float) -> int:
                time.sleep(delay)
                return n

            assert await pool.map(echo, range(40), delays) == list(range(40))
            assert await pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
            assert await pool.doublestarmap(dict, [{"a": 1}, {"b": 2}]) == [{"a": 1}, {"b": 2}]
            assert await pool.starmap_with_kwds(echo, [((1,), {"delay": 0}), ((2, 0), {})]) == [1, 2]
            with pytest.raises(ValueError, match="different lengths"):
                await pool.map(echo, range(3), [0, 0], strict=True)
            with pytest.raises(ZeroDivisionError):
                await pool.complete(lambda: 1 // 0)
            future = await pool.submit(echo, 9, 0)
            assert await future == 9
            await pool.drain(10)
            stats = pool.stats()
            assert stats.failed == 1
            assert (stats.pending, stats.running) == (0, 0)

    run(main)


def test_priority_then_arrival_order() -> None:
    async def main() -> list[str]:
        async with AsyncWorkerPool(1) as pool:
            order: list[str] = []
            gate, _ = await occupy(pool)
            for name, priority in [("a", 5), ("b", 1), ("c", 3), ("d", 1), ("e", -2)]:
                pool.submit_nowait(order.append, name, priority=priority)
            gate.set()
            await pool.drain(10)
            return order

    assert run(main) == ["e", "b", "d", "c", "a"]


def test_bounded_queue_producers_wait_in_line_and_leave_it_when_cancelled() -> None:
    async def main() -> None:
        async with AsyncWorkerPool(1, qsize=1) as pool:
            order: list[str] = []
            gate, _ = await occupy(pool)
            pool.submit_nowait(order.append, "queued")
            with pytest.raises(PoolFull):
                pool.submit_nowait(order.append, "refused")
            with pytest.raises(PoolTimeout):
                await pool.wait_for_slot(0.01)
            producers = []
            for name in ("p1", "doomed", "p2", "p3"):
                producers.append(asyncio.create_task(pool.submit(order.append, name)))
                in_line = 1 + len(producers)
                await until(lambda: pool.waiting() == in_line)  # noqa: B023 (awaited here)
            producers[1].cancel()  # leaves the line
            with pytest.raises(asyncio.CancelledError):
                await producers[1]
            with pytest.raises(PoolFull):  # nobody jumps the line
                pool.submit_nowait(order.append, "refused")
            gate.set()
            for producer in (producers[0], producers[2], producers[3]):
                await (await producer)
            await pool.drain(10)
            assert order == ["queued", "p1", "p2", "p3"]
            assert await pool.wait_for_slot(1) >= 0

    run(main)


@pytest.mark.parametrize("cancel", [False, True], ids=["run-pending", "cancel-pending"])
def test_shutdown_fails_waiting_producers_and_runs_or_cancels_pending(cancel: bool) -> None:
    async def main() -> None:
        pool = AsyncWorkerPool(1, qsize=2)
        gate, first = await occupy(pool)
        queued = [pool.submit_nowait(lambda n=n: n) for n in range(2)]
        producer = asyncio.create_task(pool.submit(print))
        await until(lambda: pool.waiting() == 3)
        stopping = asyncio.create_task(pool.shutdown(cancel_pending=cancel, timeout=20))
        with pytest.raises(PoolClosed):
            await producer
        await until(lambda: pool.closed)
        with pytest.raises(PoolClosed):
            await pool.submit(print)
        gate.set()
        await stopping
        assert await first == "ran"
        if cancel:
            assert all(future.cancelled() for future in queued)
        else:
            assert [await future for future in queued] == [0, 1]
        assert pool.stats().workers == 0

    run(main)


def test_a_storm_of_10000_calls_with_failures_and_cancellations() -> None:
    rng = random.Random(11)

    async def main() -> None:
        pool = AsyncWorkerPool(8, qsize=20, min_workers=1, idle_timeout=0.01)
        outcomes = {"ok": 0, "failed": 0, "cancelled": 0}

        def call(roll: float) -> float:
            if roll < 0.1:
                raise RuntimeError("failed")
            if roll < 0.3:
                time.sleep(0.0005)
            return roll

        async def client(rolls: list[float]) -> None:
            for roll in rolls:
                try:
                    await pool.complete(call, roll, priority=int(roll * 3))
                    outcomes["ok"] += 1
                except RuntimeError:
                    outcomes["failed"] += 1

        tasks = [asyncio.create_task(client([rng.random() for _ in range(20)])) for _ in range(500)]
        for _ in range(100):  # cancel clients wherever they are: waiting for room, or for a result
            await asyncio.sleep(rng.random() * 0.005)
            rng.choice(tasks).cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results)
        await pool.drain(30)
        stats = pool.stats()
        assert stats.completed >= outcomes["ok"]
        assert stats.failed >= outcomes["failed"]
        assert (stats.pending, stats.running, pool.waiting()) == (0, 0, 0)
        await pool.shutdown(timeout=20)
        assert pool.stats().workers == 0

    run(main)
