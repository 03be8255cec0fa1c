"""Production controls on every backend: load shedding with max_waiting
(TooManyWaiters), pop_stats() for scrapers, and a pool name in stats, logs
and events; on Pool, TokenPool and ConnectionPool."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import pytest

from eventlet_pools import ConnectionPool, Pool, PoolError, PoolTimeout, TooManyWaiters
from tests.conftest import Runner, wait_all


def test_max_waiting_turns_away_the_next_waiter_at_once(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1, max_waiting=2)
        assert pool.max_waiting == 2
        held = pool.get()
        waiters = [runner.spawn(pool.get, True, 30) for _ in range(2)]
        runner.until(lambda: pool.waiting() == 2)
        with pytest.raises(TooManyWaiters, match="2 callers wait already"):
            pool.get(True, 30)
        with pytest.raises(PoolTimeout):  # never waiting: still a timeout
            pool.get(False)
        assert pool.waiting() == 2  # nothing changed
        pool.put(held)
        first = waiters[0].wait()
        pool.put(first)
        pool.put(waiters[1].wait())
        stats = pool.stats()
        assert stats.rejected == 1
        assert stats.config.max_waiting == 2
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_max_waiting_zero_sheds_every_wait_and_bad_values_are_refused() -> None:
    pool: Pool[object] = Pool(max_size=1, create=object, max_waiting=0, backend="threads")
    held = pool.get()
    with pytest.raises(TooManyWaiters):
        pool.get(timeout=10)
    pool.put(held)
    assert pool.get() is held
    with pytest.raises(ValueError, match="max_waiting"):
        Pool(max_waiting=-1)
    with pytest.raises(TypeError, match="max_waiting"):
        Pool(max_waiting=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        Pool(name=3)  # type: ignore[arg-type]


def test_pop_stats_gives_per_interval_counters(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2, name="db-main")
        for _ in range(3):
            pool.put(pool.get())
        a, b = pool.get(), pool.get()
        with pytest.raises(PoolTimeout):
            pool.get(timeout=0.01)
        pool.put(a)
        pool.put(b)
        first = pool.pop_stats()
        assert (first.gets, first.timeouts, first.waits) == (6, 1, 1)
        assert first.name == "db-main"
        second = pool.pop_stats()
        assert (second.gets, second.timeouts, second.waits, second.wait_p50) == (0, 0, 0, None)
        assert second.size == first.size  # sizes are the current ones
        pool.put(pool.get())
        assert pool.stats().gets == 1
        assert json.loads(json.dumps(pool.stats().as_dict()))["name"] == "db-main"

    runner.run(body)


def test_a_name_shows_in_repr_logs_and_events(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Any] = []
    pool: Pool[Any] = Pool(max_size=1, create=object, name="cache", backend="threads")
    pool.listen("checkout", seen.append)
    assert "'cache'" in repr(pool)
    item = pool.get()
    assert seen[0].pool.name == "cache"
    pool.name = "renamed"
    assert pool.stats().name == "renamed"
    pool.put(item)
    plain: Pool[Any] = Pool(max_size=1, create=object, name="plain", backend="threads")
    with caplog.at_level(logging.WARNING, "eventlet_pools"):
        plain.put(object())  # a stray: dropped with a warning naming the pool
    assert "'plain'" in caplog.text


@pytest.mark.parametrize("backend", ["eventlet", "gevent", "threads"])
def test_connection_pool_takes_the_same_controls(backend: str) -> None:
    runner = Runner(backend)
    pool = ConnectionPool(
        lambda: sqlite3.connect(":memory:", check_same_thread=False),
        max_size=1,
        max_waiting=0,
        name="reports",
        backend=backend,
    )
    conn = pool.connect()
    with pytest.raises(TooManyWaiters):
        pool.connect(timeout=10)
    conn.close()
    stats = pool.pop_stats()
    assert (stats.name, stats.rejected, stats.gets) == ("reports", 1, 2)
    assert pool.name == "reports"
    assert pool.pop_stats().rejected == 0
    waiter = runner.spawn(pool.connect)  # (nobody waits: it gets the connection)
    wait_all([waiter])[0].close()
    pool.close()


def test_max_waiting_holds_for_a_native_aget_too() -> None:
    import asyncio

    async def main() -> int:
        pool: Pool[object] = Pool(max_size=1, create=object, max_waiting=1, backend="asyncio")
        held = await pool.aget()
        waiter = asyncio.create_task(pool.aget())
        while pool.waiting() != 1:
            await asyncio.sleep(0)
        with pytest.raises(TooManyWaiters):
            await pool.aget()
        await pool.aput(held)
        await pool.aput(await waiter)
        return pool.stats().rejected

    assert asyncio.run(asyncio.wait_for(main(), 20)) == 1


def test_suspend_holds_new_gets_and_resume_serves_them_in_order(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=3)
        held = pool.get()
        spare = pool.get()
        pool.put(spare)  # one free item, one more slot to create
        pool.suspend()
        suspended = pool.suspended
        assert suspended
        assert pool.free() == 0
        with pytest.raises(PoolTimeout):
            pool.get(False)  # even with an item free
        with pytest.raises(PoolTimeout):
            pool.get(True, 0.01)
        served: list[int] = []

        def waiter(n: int) -> Any:
            item = pool.get(True, 30)
            served.append(n)
            return item

        handles = []
        for n in range(4):
            handles.append(runner.spawn(waiter, n))
            in_line = n + 1
            runner.until(lambda: pool.waiting() == in_line)  # noqa: B023 (awaited here)
        pool.put(held)  # checked-out work comes back: it waits, free
        for _ in range(5):
            runner.yield_()
        assert served == []
        assert pool.waiting() == 4
        pool.resume()
        suspended = pool.suspended
        assert not suspended
        # Two free items and one new go to the first three in line (in
        # order: the last in line is the one left waiting); the fourth gets
        # one when it comes back.
        items = [handles[n].wait() for n in range(3)]
        assert sorted(served) == [0, 1, 2]
        assert pool.waiting() == 1
        pool.put(items[0])
        last = handles[3].wait()
        assert sorted(served) == [0, 1, 2, 3]
        for item in (last, *items[1:]):
            pool.put(item)
        pool.resume()  # (idempotent)
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_check_all_replaces_the_failing_free_items_now(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        bad: set[int] = set()
        pool = runner.pool(tracker, min_size=4, max_size=4, check=lambda item: id(item) not in bad)
        items = [pool.get() for _ in range(3)]
        held = pool.get()
        for item in items:
            pool.put(item)
        bad.add(id(items[1]))
        assert pool.check_all() == 1  # (checked now: no health_check_interval needed)
        assert not any(item is items[1] for item in pool.free_items)
        assert pool.current_size == 4  # refilled to min_size: 3 free again, 1 still out
        runner.until(lambda: len(pool.free_items) == 3)  # (threads: maybe by maintenance)
        stats = pool.stats()
        assert stats.disposed["check_failed"] == 1
        assert stats.checks >= 3
        pool.put(held)  # the checked-out one was never checked
        assert pool.check_all() == 0
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_check_all_needs_check_and_asyncio_awaits_it() -> None:
    import asyncio

    with pytest.raises(ValueError, match="check="):
        Pool(create=object, backend="threads").check_all()

    async def main() -> int:
        async def healthy(item: object) -> bool:
            await asyncio.sleep(0)
            return False  # every one fails: replaced

        pool: Pool[object] = Pool(min_size=2, max_size=2, create=object, check=healthy, backend="asyncio")
        for item in [await pool.aget(), await pool.aget()]:
            await pool.aput(item)
        with pytest.raises(PoolError, match="acheck_all"):
            pool.check_all()
        replaced = await pool.acheck_all()
        assert len(pool.free_items) == 2
        return replaced

    assert asyncio.run(asyncio.wait_for(main(), 20)) == 2


@pytest.mark.parametrize("backend", ["eventlet", "threads"])
def test_connection_pool_check_all_pings_every_free_connection(backend: str) -> None:
    pool = ConnectionPool(
        lambda: sqlite3.connect(":memory:", check_same_thread=False),
        min_size=2,
        max_size=2,
        check_when_idle=3600,  # (a get() would not ping them: check_all() does)
        backend=backend,
    )
    dead = pool.pool.free_items[0]
    dead.close()  # behind the pool's back
    assert pool.check_all() == 1
    # (refilled to min_size: on threads the maintenance thread may be the one
    # making the new connection as check_all() returns)
    Runner(backend).until(lambda: len(pool.pool.free_items) == 2)
    assert all(conn is not dead for conn in pool.pool.free_items)
    with pool.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pool.close()


def test_wait_returns_once_min_size_items_exist(runner: Runner) -> None:
    from eventlet_pools import Backoff, PoolClosed
    from tests.conftest import CreateFailed

    def body() -> None:
        tracker = runner.tracker()
        tracker.fail_always = True  # the server is down at start-up
        pool = runner.pool(
            tracker, min_size=2, max_size=3, create_retry=Backoff(first=0.01, cap=0.02, jitter=0)
        )
        assert pool.current_size == 0  # (it came up regardless)
        with pytest.raises(PoolTimeout, match="min_size") as info:
            pool.wait(0.05)
        assert isinstance(info.value.__cause__, CreateFailed)
        tracker.fail_always = False  # the server is back: maintenance fills it
        pool.wait(20)
        assert tracker.alive >= 2  # made, not in the making
        pool.wait(0)  # ready: at once
        pool.close()
        with pytest.raises(PoolClosed):
            pool.wait(1)

    runner.run(body)


def test_wait_is_woken_by_close_and_asyncio_awaits_it() -> None:
    import asyncio

    from eventlet_pools import Backoff, PoolClosed

    def never() -> object:
        raise RuntimeError("down")

    async def main() -> None:
        pool: Pool[object] = Pool(
            min_size=1, max_size=1, create=never, create_retry=Backoff(first=0.5), backend="asyncio"
        )
        with pytest.raises(PoolError, match="await_ready"):
            pool.wait(1)
        waiting = asyncio.create_task(pool.await_ready(20))
        await asyncio.sleep(0.01)
        pool.close()
        with pytest.raises(PoolClosed):
            await waiting

    asyncio.run(asyncio.wait_for(main(), 20))


def test_drain_replaces_free_items_now_and_checked_out_ones_as_they_come_back(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, min_size=1, max_size=3)
        first, second, third = pool.get(), pool.get(), pool.get()
        pool.put(third)  # one free, two out
        assert pool.drain() == 1  # the free one, now (refilled to min_size)
        assert any(d is third for d in tracker.disposed)
        draining = pool.draining
        assert draining
        fresh = pool.get()  # made since the drain: kept
        assert not any(fresh is old for old in (first, second, third))
        pool.put(first)  # made before: disposed as it comes back
        assert any(d is first for d in tracker.disposed)
        pool.put(fresh)
        assert not any(d is fresh for d in tracker.disposed)
        waiter = runner.spawn(pool.get)  # (room for it: no wait)
        got = waiter.wait()
        pool.put(second)  # the last old one: the drain is over
        draining = pool.draining
        assert not draining
        pool.put(got)
        stats = pool.stats()
        assert stats.disposed["drained"] == 3
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_reconnect_failed_is_asked_after_reconnect_timeout_and_can_stop(runner: Runner) -> None:
    from eventlet_pools import Backoff
    from tests.conftest import CreateFailed

    def body() -> None:
        tracker = runner.tracker()
        tracker.fail_always = True  # the server is down
        asked: list[Any] = []
        answers = [True, False]  # go on once, then stop

        def reconnect_failed(pool: Any) -> bool:
            asked.append(pool)
            return answers[len(asked) - 1]

        pool = runner.pool(
            tracker,
            max_size=1,
            create_retry=Backoff(first=0.005, cap=0.005, jitter=0),
            reconnect_timeout=0.02,
            reconnect_failed=reconnect_failed,
        )
        waiter = runner.spawn(pool.get, True, 30)  # its create fails: retried
        runner.until(lambda: len(asked) == 2)
        assert asked[0] is pool
        with pytest.raises(PoolTimeout, match="stopped retrying") as info:
            waiter.wait()  # stopped: the waiter is told
        assert isinstance(info.value.__cause__, CreateFailed)
        assert pool.stats().config.reconnect_failed is True
        tracker.fail_always = False  # a later get() starts again
        pool.put(pool.get(True, 10))
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_reconnect_options_need_create_retry() -> None:
    with pytest.raises(ValueError, match="need create_retry"):
        Pool(create=object, reconnect_timeout=5)
    with pytest.raises(TypeError, match="reconnect_failed"):
        Pool(create=object, create_retry=True, reconnect_failed=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reconnect_timeout"):
        Pool(create=object, create_retry=True, reconnect_timeout=0)


def test_cancelled_check_all_wait_and_drain_lose_no_capacity() -> None:
    import asyncio

    from eventlet_pools import Backoff

    async def main() -> None:
        started = asyncio.Event()
        slow = [False]

        async def slow_check(item: object) -> bool:
            if slow[0]:  # (only the check_all() below is slow)
                started.set()
                await asyncio.sleep(10)
            return True

        pool: Pool[object] = Pool(min_size=2, max_size=2, create=object, check=slow_check, backend="asyncio")
        items = [await pool.aget(), await pool.aget()]
        for item in items:
            await pool.aput(item)
        slow[0] = True
        checking = asyncio.create_task(pool.acheck_all())
        await started.wait()
        checking.cancel()  # mid-check: the item under check is dropped, its slot kept
        with pytest.raises(asyncio.CancelledError):
            await checking
        slow[0] = False
        got = [await pool.aget(), await pool.aget()]  # both slots still serve
        for item in got:
            await pool.aput(item)
        assert pool.current_size == 2

        def down() -> object:
            raise RuntimeError("down")

        unready: Pool[object] = Pool(
            min_size=1, create=down, create_retry=Backoff(first=5), backend="asyncio"
        )
        waiting = asyncio.create_task(unready.await_ready(20))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert unready._ready_lines == []  # left no waiter behind
        unready.close()

        gate = asyncio.Event()

        async def slow_create() -> object:
            await gate.wait()
            return object()

        refilling: Pool[object] = Pool(min_size=0, max_size=2, create=slow_create, backend="asyncio")
        held = await asyncio.wait_for(_first(refilling, gate), 5)
        await refilling.aput(held)
        refilling._min_size = 1  # (so that drain() refills, through the slow create)
        gate.clear()
        draining = asyncio.create_task(refilling.adrain())
        await asyncio.sleep(0.01)
        draining.cancel()  # mid-refill: the reserved slot comes back
        with pytest.raises(asyncio.CancelledError):
            await draining
        assert refilling.current_size == 0
        gate.set()
        await refilling.aput(await refilling.aget())
        assert refilling.current_size == 1

    asyncio.run(asyncio.wait_for(main(), 30))


async def _first(pool: Pool[Any], gate: Any) -> Any:
    gate.set()
    return await pool.aget()


def test_an_async_reconnect_failed_is_awaited() -> None:
    import asyncio

    from eventlet_pools import Backoff

    def down() -> object:
        raise RuntimeError("down")

    async def main() -> int:
        asked: list[Any] = []

        async def reconnect_failed(pool: Any) -> bool:
            await asyncio.sleep(0)
            asked.append(pool)
            return False  # stop

        pool: Pool[object] = Pool(
            max_size=1,
            create=down,
            create_retry=Backoff(first=0.005, cap=0.005, jitter=0),
            reconnect_timeout=0.02,
            reconnect_failed=reconnect_failed,
            backend="asyncio",
        )
        with pytest.raises(PoolTimeout, match="stopped retrying"):
            await pool.aget(timeout=20)
        pool.close()
        return len(asked)

    assert asyncio.run(asyncio.wait_for(main(), 30)) == 1
