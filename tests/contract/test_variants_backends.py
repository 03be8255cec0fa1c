"""StaticPool and AssertionPool on every backend (eventlet, threads,
asyncio), through the ``runner`` of conftest.py with a backend of its own
each: the same behaviour as on greenthreads (test_variants.py), with
concurrent first gets, holders in other threads or tasks, and the threads
lock."""

from __future__ import annotations

from typing import Any

import pytest

from eventlet_pools import AssertionPool, GreenthreadLocalPool, PoolClosed, PoolError, Proxy, StaticPool
from tests.conftest import BACKENDS, Runner, wait_all


@pytest.fixture(params=BACKENDS)
def runner(request: pytest.FixtureRequest) -> Runner:
    return Runner(str(request.param))


def test_static_pool_shares_one_item_made_once_for_concurrent_first_gets(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()

        def slow_make() -> Any:
            runner.yield_()  # others ask for the item while it is made
            return tracker.make()

        pool: StaticPool[Any] = StaticPool(slow_make, dispose=tracker.dispose, backend=runner.backend)

        def take() -> Any:
            item = pool.get(True, 30)
            pool.put(item)
            return item

        results = wait_all([runner.spawn(take) for _ in range(min(runner.crowd, 20))])
        assert len(tracker.created) == 1
        assert all(result is tracker.created[0] for result in results)
        item = pool.get()
        pool.discard(item)  # broken: disposed now, the next get makes another
        assert tracker.disposed == [item]
        fresh = pool.get()
        assert fresh is not item
        with pytest.raises(PoolError):
            pool.put(object())
        pool.close()
        assert tracker.alive == 1  # held: disposed once it comes back
        pool.put(fresh)
        assert tracker.alive == 0
        with pytest.raises(PoolClosed):
            pool.get()

    runner.run(body)


def test_assertion_pool_refuses_a_second_checkout_from_anywhere(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool: AssertionPool[Any] = AssertionPool(
            tracker.make, dispose=tracker.dispose, backend=runner.backend
        )
        item = pool.get()
        second = runner.spawn(pool.get)
        with pytest.raises(AssertionError, match="already checked out"):
            second.wait()
        pool.put(item)
        again = runner.spawn(pool.get).wait()  # kept between checkouts
        assert again is item
        runner.spawn(pool.put, again).wait()
        assert pool.free() == 1
        pool.close()
        assert tracker.alive == 0

    runner.run(body)


def test_holder_local_pool_binds_an_item_to_each_greenthread_thread_or_task(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool: GreenthreadLocalPool[Any] = GreenthreadLocalPool(
            2, tracker.make, dispose=tracker.dispose, backend=runner.backend
        )
        gate = {"go": False}

        def hold() -> Any:
            first = pool.get(True, 30)
            assert pool.get() is first  # the same item for the same holder
            assert pool.holding()
            pool.put(first)
            runner.until(lambda: gate["go"])
            return first

        holders = [runner.spawn(hold) for _ in range(2)]
        runner.until(lambda: len(tracker.created) == 2)
        third = runner.spawn(hold)  # both slots are bound: it waits in line
        runner.until(lambda: pool.waiting() == 1)
        gate["go"] = True
        items = wait_all([*holders, third])
        assert items[0] is not items[1]
        # Each holder's end gave its item up (disposed), and the slot went on.
        runner.until(lambda: len(tracker.disposed) == 3)
        assert pool.free() == 2
        assert not pool.holding()

        def release_early() -> bool:
            pool.get()
            pool.release()  # back to the pool for others, unbound
            return pool.holding()

        assert runner.spawn(release_early).wait() is False
        assert len(pool.free_items) == 1
        pool.close()
        assert tracker.alive == 0

    runner.run(body)


def test_proxy_gives_each_greenthread_thread_or_task_its_own_item(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2)
        proxy = Proxy(pool)
        gate = {"go": False}

        def use() -> Any:
            first = proxy.target()
            assert proxy.target() is first  # the same item in the same holder
            runner.until(lambda: gate["go"])
            return first

        holders = [runner.spawn(use) for _ in range(2)]
        runner.until(lambda: pool.free() == 0)
        gate["go"] = True
        first, second = wait_all(holders)
        assert first is not second
        runner.until(lambda: pool.free() == 2)  # given back as the holders ended
        assert tracker.disposed == []  # back in the pool, not disposed
        pool.close()

    runner.run(body)
