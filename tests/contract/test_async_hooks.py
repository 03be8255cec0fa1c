"""Awaitable hooks on the asyncio backend: ``create``, ``check``, ``reset``
and ``dispose`` may be coroutine functions (or return awaitables), and the
pool awaits them; cancelling or failing one loses no capacity; ``aclose()``
and ``async with`` wait for async disposals."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar

import pytest

from eventlet_pools import Pool, PoolClosed, PoolError
from tests.conftest import CreateFailed, Item, Tracker, assert_settled

R = TypeVar("R")


def run(main: Callable[[], Awaitable[R]]) -> R:
    return asyncio.run(asyncio.wait_for(main(), 60))


async def until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0)


class AsyncTracker(Tracker):
    """A Tracker whose create and dispose are coroutines that yield to the
    loop first (as a driver's connect and close would), optionally held at
    ``gate`` until a test lets them go on."""

    def __init__(self) -> None:
        super().__init__()
        self.gate: Any = None  # an asyncio.Event, when set
        self.started = 0

    async def acreate(self) -> Any:
        self.started += 1
        await asyncio.sleep(0)
        if self.gate is not None:
            await self.gate.wait()
        return self.make()

    async def adispose(self, item: Any) -> None:
        await asyncio.sleep(0)
        self.dispose(item)


@pytest.mark.parametrize("how", ["coroutine-function", "lambda-returning-a-coroutine", "subclass"])
def test_an_async_create_is_awaited_when_growing_and_in_a_granted_slot(how: str) -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        if how == "subclass":

            class AsyncItems(Pool[Any]):
                async def create(self) -> Any:
                    return await tracker.acreate()

            pool: Pool[Any] = AsyncItems(max_size=2, dispose=tracker.dispose, backend="asyncio")
        else:
            create: Any = tracker.acreate if how == "coroutine-function" else (lambda: tracker.acreate())
            pool = Pool(max_size=2, create=create, dispose=tracker.dispose, backend="asyncio")
        first, second = await pool.aget(), await pool.aget()  # made by awaiting create()
        assert [first, second] == tracker.created
        assert all(isinstance(item, Item) for item in (first, second))
        waiter = asyncio.create_task(pool.aget())
        await until(lambda: pool.waiting() == 1)
        pool.discard(first)  # the waiter is granted the slot and awaits create()
        third = await waiter
        assert third is tracker.created[2]
        pool.put(third)
        async with pool.aitem() as same:
            assert same is third
        pool.put(second)
        assert_settled(pool, tracker)

    run(main)


@pytest.mark.parametrize("where", ["growing", "granted-slot"])
def test_cancelling_a_task_inside_an_async_create_loses_no_capacity(where: str) -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        pool: Pool[Any] = Pool(max_size=1, create=tracker.acreate, dispose=tracker.dispose, backend="asyncio")
        if where == "granted-slot":
            held = await pool.aget()
            tracker.gate = asyncio.Event()
            task = asyncio.create_task(pool.aget())
            await until(lambda: pool.waiting() == 1)
            pool.discard(held)  # granted the slot: it starts create() and hangs there
        else:
            tracker.gate = asyncio.Event()
            task = asyncio.create_task(pool.aget())
        await until(lambda: tracker.started == (2 if where == "granted-slot" else 1))
        assert pool._creating == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool._creating == 0
        assert pool.free() == 1  # the slot came back
        tracker.gate = None
        pool.put(await pool.aget())
        assert_settled(pool, tracker)

    run(main)


def test_an_async_create_that_raises_gives_its_slot_back() -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        pool: Pool[Any] = Pool(max_size=1, create=tracker.acreate, dispose=tracker.dispose, backend="asyncio")
        tracker.fail_next = 1
        with pytest.raises(CreateFailed):
            await pool.aget()
        assert pool.free() == 1
        assert pool.stats().create_errors == 1
        pool.put(await pool.aget())
        assert_settled(pool, tracker)

    run(main)


def test_an_async_create_outside_the_async_methods_is_refused_and_not_left_unawaited() -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        pool: Pool[Any] = Pool(max_size=1, create=tracker.acreate, dispose=tracker.dispose, backend="asyncio")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a "never awaited" warning would fail here
            with pytest.raises(PoolError, match="aget"):
                pool.get()  # a synchronous get() cannot await create()
            gc.collect()
        assert tracker.started == 0  # the coroutine was closed, never run
        assert pool.free() == 1  # nothing lost
        pool.put(await pool.aget())
        assert_settled(pool, tracker)

    run(main)


def test_async_check_and_reset_with_lifecycle_options() -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        resets: list[Any] = []
        failing: set[int] = set()

        async def check(item: Any) -> bool:
            await asyncio.sleep(0)
            return id(item) not in failing

        async def reset(item: Any) -> None:
            await asyncio.sleep(0)
            resets.append(item)

        pool: Pool[Any] = Pool(
            max_size=2,
            create=tracker.acreate,
            dispose=tracker.adispose,
            check=check,
            reset=reset,
            backend="asyncio",
        )
        first = await pool.aget()
        await pool.aput(first)  # reset awaited
        assert resets == [first]
        async with pool.aitem() as again:  # check awaited: it passes
            assert again is first
        assert resets == [first, first]
        failing.add(id(first))
        fresh = await pool.aget()  # the check fails: disposed, replaced
        assert fresh is not first
        await until(lambda: tracker.disposed == [first])
        await pool.aput(fresh)
        assert pool.stats().checks_failed == 1
        await pool.aclose()
        assert tracker.alive == 0

    run(main)


def test_a_task_cancelled_inside_an_async_reset_loses_no_capacity() -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        gate = asyncio.Event()
        entered: list[Any] = []

        async def reset(item: Any) -> None:
            entered.append(item)
            await gate.wait()

        pool: Pool[Any] = Pool(
            max_size=1, create=tracker.acreate, dispose=tracker.dispose, reset=reset, backend="asyncio"
        )
        held = await pool.aget()
        task = asyncio.create_task(pool.aput(held))
        await until(lambda: entered == [held])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert tracker.disposed == [held]  # its state is unknown: dropped
        assert pool.free() == 1
        gate.set()
        await pool.aput(await pool.aget())
        assert_settled(pool, tracker)

    run(main)


def test_async_dispose_is_awaited_by_aclose_and_async_with() -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        async with Pool(
            max_size=3, create=tracker.acreate, dispose=tracker.adispose, backend="asyncio"
        ) as pool:
            items = [await pool.aget() for _ in range(3)]
            pool.put(items[0])
            pool.put(items[1])
        # aclose() awaited the free items' async dispose.
        assert sorted(tracker.disposed, key=id) == sorted(items[:2], key=id)
        with pytest.raises(PoolClosed):
            await pool.aget()
        pool.put(items[2])  # from sync code: disposed by a task
        assert items[2] not in tracker.disposed
        await pool.aclose()  # idempotent, and waits for that task too
        assert tracker.alive == 0

    run(main)


def test_a_failing_async_dispose_is_logged_and_the_item_dropped(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        tracker = AsyncTracker()

        async def dispose(item: Any) -> None:
            await asyncio.sleep(0)
            raise RuntimeError("close failed")

        pool: Pool[Any] = Pool(max_size=2, create=tracker.acreate, dispose=dispose, backend="asyncio")
        free, held = await pool.aget(), await pool.aget()
        pool.put(free)
        with caplog.at_level("ERROR", logger="eventlet_pools"):
            await pool.aclose()  # the free one: awaited in aclose(), raises there
            messages = [r.getMessage() for r in caplog.records]
            assert any("raised; the item is dropped anyway" in m for m in messages), messages
            pool.put(held)  # from plain code: disposed by a task, which raises
            await pool.aclose()
            messages = [r.getMessage() for r in caplog.records]
            assert any("finished in a task of the loop, raised" in m for m in messages), messages
        assert pool.current_size == 0

    run(main)


def test_coroutine_listeners_are_awaited_in_the_async_methods_or_by_a_task() -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        seen: list[tuple[str, Any]] = []

        async def record(event: Any) -> None:
            await asyncio.sleep(0)
            seen.append((event.name, event.item))

        pool: Pool[Any] = Pool(max_size=1, create=tracker.acreate, dispose=tracker.dispose, backend="asyncio")
        for name in ("create", "checkout", "checkin", "dispose"):
            pool.listen(name, record)
        item = await pool.aget()  # create and checkout: awaited in aget()
        assert seen == [("create", item), ("checkout", item)]
        await pool.aput(item)  # checkin: awaited in aput()
        assert seen[-1] == ("checkin", item)
        async with pool.aitem() as again:
            pool.discard(again)  # from plain code: the dispose event runs in a task
        await pool.aclose()  # which aclose() waits for
        assert [name for name, _ in seen] == ["create", "checkout", "checkin", "checkout", "dispose"]
        assert tracker.alive == 0

    run(main)


def test_min_size_with_an_async_create_fills_in_a_task_or_grows_on_use() -> None:
    async def main() -> None:
        tracker = AsyncTracker()
        pool: Pool[Any] = Pool(
            min_size=2, max_size=3, create=tracker.acreate, dispose=tracker.dispose, backend="asyncio"
        )
        assert pool.stats().create_errors == 0
        await until(lambda: len(pool.free_items) == 2)  # filled by a task of the loop
        assert pool.current_size == 2
        pool.put(await pool.aget())
        assert_settled(pool, tracker)
        await pool.aclose()

    run(main)
    # Made outside a running loop: nothing can be awaited yet, so the pool
    # starts empty and creates as it is used.
    tracker = AsyncTracker()
    outside: Pool[Any] = Pool(min_size=2, max_size=2, create=tracker.acreate, backend="asyncio")
    assert outside.current_size == 0

    async def use() -> None:
        outside.put(await outside.aget())
        assert outside.current_size == 1

    run(use)


@pytest.mark.parametrize("backend", ["eventlet", "threads"])
def test_an_async_hook_on_another_backend_is_refused_and_loses_nothing(backend: str) -> None:
    tracker = AsyncTracker()
    pool: Pool[Any] = Pool(max_size=1, create=tracker.acreate, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "never awaited" warning either
        with pytest.raises(TypeError, match="async hooks need backend='asyncio'"):
            pool.get()
        gc.collect()
    assert pool.free() == 1
    assert pool.stats().create_errors == 1
