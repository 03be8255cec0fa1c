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

from eventlet_pools import NullPool, Pool, PoolClosed, PoolError, PoolTimeout
from tests.conftest import CreateFailed, Tracker, assert_invariants, assert_settled

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
            return eventlet_pools.Pool(max_size=1, create=object).backend
        print(asyncio.run(main()), eventlet_pools.Pool().backend, "eventlet" in sys.modules)
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


def test_aget_and_aitem_call_a_get_overridden_with_eventlets_signature() -> None:
    calls: list[str] = []

    class Checked(Pool[Any]):
        def get(self) -> Any:  # type: ignore[override]
            item = super().get()
            calls.append("get")
            return item

    async def main() -> None:
        pool = Checked(max_size=1, create=object, backend="asyncio")
        async with pool.aitem() as first:
            pass
        assert calls == ["get"]
        async with pool.aitem() as again:  # a free item: the override still runs
            assert again is first
        assert calls == ["get", "get"]
        held = await pool.aget()
        waiter = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        pool.put(held)
        assert await waiter is held
        assert calls == ["get", "get", "get", "get"]
        pool.put(held)

    run(main)


def test_a_waiting_aget_parks_on_a_future_and_creates_in_a_bridge() -> None:
    # A plain pool's aget() waits on a future of the loop, with no bridge
    # greenlet; create() runs in one (it may be awaited there), also for the
    # slot a waiter is granted.
    from greenlet import getcurrent

    from eventlet_pools._waiters import _Bridge

    async def main() -> None:
        tracker = Tracker()
        bridged: list[bool] = []

        def make() -> Any:
            bridged.append(isinstance(getcurrent(), _Bridge))
            return tracker.make()

        pool: Pool[Any] = Pool(max_size=1, create=make, dispose=tracker.dispose, backend="asyncio")
        held = await pool.aget()
        waiter = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        assert isinstance(pool._waiters[0], asyncio.Future)  # the task's own future
        pool.discard(held)  # the waiter is granted the slot and creates
        fresh = await waiter
        assert bridged == [True, True]
        pool.put(fresh)
        assert_settled(pool, tracker)

    run(main)


def test_grant_then_cancel_before_the_task_runs_passes_the_item_on() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        first = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        second = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 2)
        pool.put(held)  # granted to the first, which has not run yet
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second is held  # passed on, in order
        assert pool.waiting() == 0
        pool.put(held)
        assert_settled(pool, tracker)

    run(main)


def test_a_slot_taken_back_by_a_shrink_waits_again_first_in_line() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        served: list[str] = []

        async def take(name: str) -> None:
            item = await pool.aget(timeout=30)
            served.append(name)
            pool.put(item)

        first = asyncio.create_task(take("first"))
        await until(lambda: pool.waiting() == 1)
        second = asyncio.create_task(take("second"))
        await until(lambda: pool.waiting() == 2)
        pool.discard(held)  # the first is granted the slot...
        pool.resize(0)  # ...which the shrink takes back before it runs
        await until(lambda: pool.waiting() == 2)  # the first waits again
        assert served == []
        pool.resize(1)
        await asyncio.gather(first, second)
        assert served == ["first", "second"]
        assert_settled(pool, tracker)

    run(main)


def test_close_fails_every_native_waiter_and_loses_nothing() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = async_pool(tracker, max_size=1)
        held = await pool.aget()
        waiters = [asyncio.create_task(pool.aget()) for _ in range(3)]
        await until(lambda: pool.waiting() == 3)
        pool.close()
        for task in waiters:
            with pytest.raises(PoolClosed):
                await task
        pool.put(held)  # disposed: the pool is closed
        assert tracker.disposed == [held]
        assert pool.current_size == 0

    run(main)


@pytest.mark.parametrize("seed", range(4))
def test_native_waiting_storm_with_cancels_timeouts_failures_and_resizes(seed: int) -> None:
    # 1,000 tasks on the native aget() path (no bridge greenlet): random
    # time limits, cancellations while waiting and right after a grant,
    # discards, failed creates and resizes, with the invariants of
    # DESIGN.md checked at every step; at the end nothing is lost.
    rng = random.Random(seed)

    async def main() -> None:
        tracker = Tracker()
        tracker.rng = random.Random(seed)
        tracker.fail_probability = 0.05
        pool = async_pool(tracker, max_size=8)
        served = 0

        async def worker() -> None:
            nonlocal served
            for _ in range(5):
                timeout = rng.choice([None, None, None, 0, 0.001, 0.01])
                try:
                    item = await pool.aget(timeout=timeout)
                except (PoolTimeout, CreateFailed):
                    continue
                try:
                    served += 1
                    if rng.random() < 0.5:
                        await asyncio.sleep(0)
                finally:  # also when cancelled while holding it
                    if rng.random() < 0.05:
                        pool.discard(item)
                    else:
                        pool.put(item)

        tasks = [asyncio.create_task(worker()) for _ in range(1000)]
        while not all(task.done() for task in tasks):
            assert_invariants(pool, tracker)
            roll = rng.random()
            if roll < 0.1:
                rng.choice(tasks).cancel()  # waiting, holding, or just granted
            elif roll < 0.13:
                pool.resize(rng.randint(1, 12))
            await asyncio.sleep(0)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results), results
        assert served > 0
        assert_settled(pool, tracker)
        pool.close()
        assert tracker.alive == 0

    run(main)
