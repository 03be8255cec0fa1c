"""Pool with backend='asyncio': the same guarantees for tasks of one loop.

aget/aput/aitem; FIFO handoff to 1,000 tasks; timeouts; cancellation while
waiting and after a grant; failed creates, resize and close; the lifecycle
options with their maintenance task; fault storms of 1,000 tasks with
cancellations, checking the DESIGN.md invariants as they go."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import textwrap
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar

import pytest

from eventlet_pools import NullPool, Pool, PoolClosed, PoolError, PoolEvent, PoolTimeout
from tests.conftest import CreateFailed, Item, Tracker, assert_invariants, assert_settled

R = TypeVar("R")


def run(main: Callable[[], Awaitable[R]]) -> R:
    return asyncio.run(asyncio.wait_for(main(), 60))


def async_pool(tracker: Tracker, **kwargs: Any) -> Pool[Any]:
    return Pool(create=tracker.make, dispose=tracker.dispose, backend="asyncio", **kwargs)


async def until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0)


def test_a_thousand_tasks_are_served_in_arrival_order() -> None:
    async def main() -> list[int]:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        order: list[int] = []

        async def waiter(n: int) -> None:
            async with pool.aitem(timeout=30):
                order.append(n)
                await asyncio.sleep(0)

        tasks = []
        for n in range(1000):
            tasks.append(asyncio.create_task(waiter(n)))
            await asyncio.sleep(0)  # in line before the next one comes
        assert pool.waiting() == 1000
        await pool.aput(held)
        await asyncio.gather(*tasks)
        assert_settled(pool, tracker)
        pool.close()
        return order

    assert run(main) == list(range(1000))


def test_timeouts_and_nonblocking_gets() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        with pytest.raises(PoolTimeout):
            await pool.aget(block=False)
        with pytest.raises(PoolTimeout):
            await pool.aget(timeout=0.02)
        assert pool.waiting() == 0
        with pytest.raises(PoolError, match="aget"):
            pool.get()  # a synchronous get that would wait
        assert pool.waiting() == 0
        pool.put(held)
        assert_settled(pool, tracker)

    run(main)


def test_cancelled_waiter_leaves_the_line_and_a_cancelled_grantee_passes_on() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        doomed = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        assert pool.waiting() == 0
        granted = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        following = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 2)
        pool.put(held)  # granted to the first...
        granted.cancel()  # ...which is cancelled before it resumes
        with pytest.raises(asyncio.CancelledError):
            await granted
        assert await following is held  # passed on, not lost
        pool.put(held)
        assert_settled(pool, tracker)

    run(main)


def test_failed_create_resize_and_close() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        first = asyncio.create_task(pool.aget())
        second = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 2)
        tracker.fail_next = 1
        pool.discard(held)  # the first waiter creates, and fails: the second gets the slot
        with pytest.raises(CreateFailed):
            await first
        item = await second
        assert isinstance(item, Item)
        waiters = [asyncio.create_task(pool.aget()) for _ in range(3)]
        await until(lambda: pool.waiting() == 3)
        pool.resize(3)  # two more slots: two waiters create
        await until(lambda: sum(task.done() for task in waiters) == 2)
        assert pool.waiting() == 1
        pool.close()
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert sum(isinstance(r, PoolClosed) for r in results) == 1
        for got in [item, *(r for r in results if isinstance(r, Item))]:
            pool.put(got)
        assert tracker.alive == 0

    run(main)


def test_lifecycle_options_and_the_maintenance_task() -> None:
    async def main() -> None:
        tracker = Tracker()
        leaks: list[PoolEvent] = []
        pool = async_pool(tracker, max_size=3, max_idle=0.05, max_uses=2, max_hold=0.05)
        pool.listen("leak", leaks.append)
        first = await pool.aget()
        pool.put(first)
        again = await pool.aget()
        assert again is first
        pool.put(again)  # its second use: disposed
        assert tracker.disposed == [first]
        leaked = await pool.aget()
        await asyncio.wait_for(until(lambda: len(leaks) == 1), 5)
        assert leaks[0].item is leaked
        pool.put(leaked)
        await asyncio.wait_for(until(lambda: pool.current_size == 0), 5)
        assert pool.stats().disposed["idle"] == 1
        upkeep = pool._upkeep
        assert upkeep is not None
        pool.close()
        await asyncio.wait_for(upkeep.thread, 5)  # the maintenance task ends

    run(main)


@pytest.mark.parametrize("lifecycle", [False, True], ids=["plain", "lifecycle"])
def test_fault_storm_of_a_thousand_tasks(lifecycle: bool) -> None:
    async def main() -> None:
        rng = random.Random(5)
        tracker = Tracker()
        tracker.fail_probability = 0.05
        options: dict[str, Any] = {}
        if lifecycle:

            def reset(item: Any) -> None:
                if rng.random() < 0.05:
                    raise RuntimeError("reset failed")

            options = {
                "max_uses": 5,
                "check": lambda item: rng.random() > 0.05,
                "reset": reset,
                "max_idle": 0.01,
            }
        pool = async_pool(tracker, max_size=4, **options)

        async def worker() -> None:
            for _ in range(5):
                try:
                    item = await pool.aget(timeout=rng.choice([None, 0.001, 0.01]))
                except (PoolTimeout, CreateFailed):
                    continue
                try:
                    await asyncio.sleep(0)  # cancelled here too, while holding
                finally:
                    if rng.random() < 0.1:
                        pool.discard(item)
                    else:
                        pool.put(item)
                assert_invariants(pool, None if lifecycle else tracker)

        tasks = [asyncio.create_task(worker()) for _ in range(1000)]
        for index, task in enumerate(tasks):
            if index % 9 == 0:
                await asyncio.sleep(0)
                task.cancel()  # waiting, just granted, or holding
            if index % 50 == 0:
                pool.resize(rng.randrange(2, 8))
        await asyncio.gather(*tasks, return_exceptions=True)
        pool.resize(4)
        await until(lambda: pool._retry_due is None and pool._creating == 0)
        assert_settled(pool, tracker)  # nothing lost, nobody waiting
        assert tracker.max_alive <= 8
        pool.close()
        assert tracker.alive == 0

    run(main)


def test_null_pool_on_asyncio_and_the_other_backends_refuse_aget() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = NullPool(2, tracker.make, dispose=tracker.dispose, backend="asyncio")
        items = [await pool.aget(), await pool.aget()]
        third = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        pool.put(items[0])  # disposed; the waiter creates anew
        assert await third is not items[0]
        green = Pool(max_size=1, create=object, backend="eventlet")
        green.put(green.get())
        held = await green.aget()  # a free item: no waiting, so any backend
        green.put(held)
        held = green.get()
        with pytest.raises(PoolError, match="backend='asyncio'"):
            await green.aget()
        green.put(held)

    run(main)


def test_auto_picks_asyncio_inside_a_running_loop_without_eventlet() -> None:
    source = """
        import asyncio, sys
        import eventlet_pools
        async def main():
            return eventlet_pools.Pool(max_size=1, create=object)._backend
        print(asyncio.run(main()), eventlet_pools.Pool()._backend, "eventlet" in sys.modules)
    """
    ran = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["asyncio", "threads", "False"]


def test_cancel_then_grant_before_the_task_runs_passes_the_item_on() -> None:
    # The storm found this: cancel() cancels the waiter's future at once,
    # and a put() before the task runs again granted into a done future
    # (InvalidStateError). The grant now stands, and the cancelled task's
    # cleanup passes the item on.
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        waiter = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        waiter.cancel()
        pool.put(held)  # granted to the cancelled waiter, which has not run
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await pool.aget(block=False) is held
        pool.put(held)
        assert_settled(pool, tracker)

    run(main)


def test_discard_inside_an_aitem_block_is_not_put_back() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        async with pool.aitem() as item:
            pool.discard(item)
        assert tracker.disposed == [item]
        context = pool.aitem()
        async with context as second:
            context.discard()  # the context's own discard, as with item()
        assert tracker.disposed == [item, second]
        assert_settled(pool, tracker)

    run(main)
