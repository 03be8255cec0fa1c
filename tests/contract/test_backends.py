"""The Pool contract, a fault storm, and the lifecycle options and stats, run
once per backend (eventlet, threads, asyncio) through the ``runner`` fixture
(see conftest.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import warnings
from typing import Any, Callable

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

from eventlet_pools import Pool, PoolClosed, PoolError, PoolTimeout
from eventlet_pools._backends import backend_for
from tests.conftest import CreateFailed, Runner, wait_all

# ----------------------------------------------------------------------
# the contract


def test_items_come_back_round_robin_and_free_counts(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=3)
        assert pool.free() == 3
        items = [pool.get() for _ in range(3)]
        assert items == tracker.created
        assert pool.free() == 0
        for item in items:
            pool.put(item)
        assert [pool.get() for _ in range(3)] == items  # round robin
        for item in items:
            pool.put(item)
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_waiters_are_served_in_arrival_order(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        order: list[int] = []

        def waiter(n: int) -> None:
            with pool.item(timeout=60):
                order.append(n)

        def in_line(count: int) -> Callable[[], bool]:
            return lambda: pool.waiting() == count

        crowd = min(runner.crowd, 200)
        handles = []
        for n in range(crowd):
            handles.append(runner.spawn(waiter, n))
            runner.until(in_line(n + 1))  # in line before the next one comes
        pool.put(held)
        wait_all(handles)
        assert order == list(range(crowd))
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_timeouts_and_nonblocking_gets_change_nothing(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1, timeout=0.02)
        held = pool.get()
        with pytest.raises(PoolTimeout):
            pool.get(block=False)
        with pytest.raises(PoolTimeout):
            pool.get(timeout=0)
        with pytest.raises(PoolTimeout):
            pool.get()  # the pool's own timeout
        assert pool.waiting() == 0
        pool.put(held)
        pool.put(held)  # put twice: the second put() is ignored, with a warning
        assert list(pool._free) == [held]
        assert not tracker.disposed  # nothing is checked out
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_nonblocking_get_never_jumps_the_line(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        waiter = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 1)
        pool.put(held)  # promised to the waiter, even before it runs
        with pytest.raises(PoolTimeout):
            pool.get(block=False)
        assert waiter.wait() is held
        pool.put(held)
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_failed_create_passes_the_slot_to_the_next_waiter(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        first = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 1)
        second = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 2)
        tracker.fail_next = 1
        pool.discard(held)
        with pytest.raises(CreateFailed):
            first.wait()
        pool.put(second.wait())
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_item_block_gives_back_on_error_and_discard_drops(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        with pytest.raises(KeyError), pool.item():
            raise KeyError("boom")
        with pool.item() as item:
            pool.discard(item)  # not put back by the block
        assert tracker.disposed == [item]
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_resize_wakes_waiters_and_close_fails_the_rest(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        waiters = [runner.spawn(pool.get, True, 30) for _ in range(3)]
        runner.until(lambda: pool.waiting() == 3)
        pool.resize(3)
        runner.until(lambda: pool.current_size == 3 and pool._creating == 0)
        assert pool.waiting() == 1
        pool.close()
        results = []
        for waiter in waiters:
            try:
                results.append(waiter.wait())
            except PoolClosed as exc:
                results.append(exc)
        assert sum(isinstance(r, PoolClosed) for r in results) == 1
        with pytest.raises(PoolClosed):
            pool.get()
        for item in [held, *(r for r in results if not isinstance(r, PoolClosed))]:
            pool.put(item)  # disposed: closed
        assert tracker.alive == 0

    runner.run(body)


def test_stopped_waiter_leaves_the_line(runner: Runner) -> None:
    if not runner.can_stop:
        # Threads cannot be killed; a thread's way out is its timeout,
        # covered above.
        assert runner.backend == "threads"
        return

    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        doomed = runner.spawn(pool.get)
        runner.until(lambda: pool.waiting() == 1)
        doomed.stop()
        wait_all([doomed])
        assert pool.waiting() == 0
        granted = runner.spawn(pool.get)
        runner.until(lambda: pool.waiting() == 1)
        following = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 2)
        pool.put(held)  # granted to the first, which is stopped before it runs
        granted.stop()
        wait_all([granted])
        assert following.wait() is held
        pool.put(held)
        runner.check(pool, tracker, settled=True)

    runner.run(body)


# ----------------------------------------------------------------------
# a fault storm on every backend


@pytest.mark.parametrize("lifecycle", [False, True], ids=["plain", "lifecycle"])
def test_fault_storm(runner: Runner, lifecycle: bool) -> None:
    def body() -> None:
        tracker = runner.tracker()
        tracker.fail_probability = 0.05
        rng = random.Random(3)
        rng_lock = threading.Lock()

        def chance(p: float) -> bool:
            with rng_lock:
                return rng.random() < p

        options: dict[str, Any] = {}
        if lifecycle:

            def reset(item: Any) -> None:
                if chance(0.05):
                    raise RuntimeError("reset failed")

            options = {
                "max_uses": 5,
                "check": lambda item: not chance(0.05),
                "reset": reset,
                "max_idle": 0.01,
            }
        pool = runner.pool(tracker, max_size=4, **options)

        def worker() -> None:
            for _ in range(6):
                try:
                    item = pool.get(not chance(0.1), 0.001 if chance(0.3) else None)
                except (PoolTimeout, CreateFailed):
                    continue
                try:
                    if chance(0.5):
                        runner.yield_()
                finally:
                    if chance(0.1):
                        pool.discard(item)
                    else:
                        pool.put(item)
                runner.check(pool, None if lifecycle else tracker)

        handles = [runner.spawn(worker) for _ in range(runner.crowd)]
        for index, handle in enumerate(handles):
            if runner.can_stop and index % 9 == 0:
                runner.yield_()
                handle.stop()  # waiting, just granted, or holding
            if index % 50 == 0:
                pool.resize(2 + index % 6)
        wait_all(handles)
        pool.resize(4)
        runner.until(lambda: pool._retry_due is None and pool._creating == 0)
        runner.check(pool, tracker, settled=True)
        assert tracker.max_alive <= 8
        pool.close()
        assert tracker.alive == 0

    runner.run(body)


# ----------------------------------------------------------------------
# lifecycle options and stats on every backend


def test_lifecycle_options_and_stats(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        leaks: list[Any] = []
        pool = runner.pool(tracker, max_size=2, max_uses=2, max_idle=0.05, max_hold=0.05)
        pool.listen("leak", leaks.append)
        first = pool.get()
        pool.put(first)
        assert pool.get() is first
        pool.put(first)  # its second use: disposed
        assert tracker.disposed == [first]
        leaked = pool.get()
        runner.until(lambda: len(leaks) == 1)  # the maintenance reports it
        assert leaks[0].item is leaked
        pool.put(leaked)
        runner.until(lambda: pool.current_size == 0)  # and evicts it when idle
        stats = pool.stats()
        assert stats.disposed["uses"] == 1
        assert stats.disposed["idle"] == 1
        assert stats.leaks == 1
        assert stats.gets == 3
        assert json.loads(json.dumps(stats.as_dict()))["disposed"]["idle"] == 1
        assert pool.status().startswith(f"{type(pool).__name__} open")
        upkeep = pool._upkeep
        assert upkeep is not None
        pool.close()
        runner.until(lambda: runner.ended(upkeep.thread))  # the maintenance ends

    runner.run(body)


# ----------------------------------------------------------------------
# the rest of the core contract, on every backend


def test_order_as_stack_min_size_and_max_size_assignment(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, min_size=2, max_size=3, order_as_stack=True)
        assert len(tracker.created) == 2  # made up front
        a, b = pool.get(), pool.get()
        pool.put(a)
        pool.put(b)
        assert pool.get() is b  # most recently returned first
        pool.put(b)
        pool.max_size = 1  # assigning resizes: free items beyond it go now
        assert pool.current_size == 1
        assert pool.max_size == 1
        pool.close()
        assert tracker.alive == 0

    runner.run(body)


def test_create_contention_creates_only_max_size(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()

        def slow_create() -> Any:
            runner.yield_()  # others arrive while this one creates
            return tracker.make()

        pool = Pool(create=slow_create, dispose=tracker.dispose, max_size=3, backend=runner.backend)
        got: list[Any] = []

        def taker() -> None:
            item = pool.get(True, 30)
            got.append(item)
            runner.yield_()
            pool.put(item)

        wait_all([runner.spawn(taker) for _ in range(20)])
        assert len(got) == 20
        assert len(tracker.created) <= 3
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_create_raising_with_nobody_waiting_changes_nothing(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2)
        tracker.fail_next = 1
        with pytest.raises(CreateFailed):
            pool.get()
        assert pool.free() == 2
        assert pool.current_size == 0
        with pytest.raises(PoolError):
            pool.discard(object())  # nothing checked out
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_puts_never_wait_even_with_timed_out_getters(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2)
        held = [pool.get(), pool.get()]
        late = [runner.spawn(pool.get, True, 0.001) for _ in range(5)]
        for handle in late:
            with pytest.raises(PoolTimeout):
                handle.wait()
        assert pool.waiting() == 0
        for item in held:
            pool.put(item)  # nobody to hand them to: back to free_items
        assert len(pool.free_items) == 2
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_nonblocking_get_refused_while_others_wait_even_with_capacity(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        waiter = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 1)
        pool.resize(2)  # capacity for one more: the waiter's, not a newcomer's
        with pytest.raises(PoolTimeout):
            pool.get(block=False)
        pool.put(waiter.wait())
        pool.put(held)
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_resize_down_disposes_free_items_now_and_the_rest_as_they_return(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=4)
        items = [pool.get() for _ in range(4)]
        pool.put(items[0])
        pool.put(items[1])
        pool.resize(1)
        assert tracker.disposed == items[:2]  # free ones go at once
        assert pool.current_size == 2
        pool.put(items[2])  # above the new size: disposed as it comes back
        assert tracker.disposed == items[:3]
        pool.put(items[3])  # within it: kept
        assert list(pool.free_items) == [items[3]]
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_close_wakes_a_waiter_granted_before_it_ran(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        waiter = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 1)
        with runner_lock(pool):
            pool.put(held)  # granted...
            pool.close()  # ...and closed before the waiter could run
        with pytest.raises(PoolClosed):
            waiter.wait()
        assert tracker.disposed == [held]
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def runner_lock(pool: Pool[Any]) -> Any:
    """Hold the pool's lock (threads) so two calls happen with nothing between."""
    return pool._lock if pool._lock is not None else contextlib.nullcontext()


def test_pool_as_context_manager_and_a_raising_dispose(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    def body() -> None:
        tracker = runner.tracker()

        def bad_dispose(item: Any) -> None:
            tracker.dispose(item)
            raise RuntimeError("dispose failed")

        made = Pool(create=tracker.make, dispose=bad_dispose, min_size=1, max_size=2, backend=runner.backend)
        with caplog.at_level(logging.ERROR, logger="eventlet_pools"), made as pool:
            assert pool is made
            pool.discard(pool.get())  # a raising dispose loses no capacity
            assert pool.free() == 2
            pool.put(pool.get())
        assert pool.closed
        assert tracker.alive == 0  # disposed despite the error...
        assert "dispose failed" in caplog.text  # ...which is logged

    runner.run(body)


def test_a_shrink_takes_back_the_newest_granted_slot(runner: Runner) -> None:
    # Found by the hypothesis state machine: two waiters were granted slots
    # to create in, and a shrink left room for one. The first to run used
    # to give its slot up, so the later waiter was served first.
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=0)
        served: list[str] = []

        def waiter(name: str) -> Any:
            item = pool.get(timeout=30)
            served.append(name)
            return item

        first = runner.spawn(waiter, "first")
        runner.until(lambda: pool.waiting() == 1)
        second = runner.spawn(waiter, "second")
        runner.until(lambda: pool.waiting() == 2)
        with pool._lock or contextlib.nullcontext():  # threads: no grantee runs in between
            pool.resize(2)  # both are granted a slot...
            pool.resize(1)  # ...and the newest gives its slot back
        item = first.wait()
        runner.until(lambda: pool.waiting() == 1)  # the second waits again
        assert served == ["first"]
        pool.put(item)
        pool.put(second.wait())
        assert served == ["first", "second"]
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_an_item_returned_after_a_shrink_goes_to_the_oldest_waiter_whose_slot_it_took(
    runner: Runner,
) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        held = pool.get()
        served: list[tuple[str, Any]] = []

        def waiter(name: str) -> None:
            item = pool.get(timeout=30)
            served.append((name, item))
            pool.put(item)

        first = runner.spawn(waiter, "first")
        runner.until(lambda: pool.waiting() == 1)
        second = runner.spawn(waiter, "second")
        runner.until(lambda: pool.waiting() == 2)
        with pool._lock or contextlib.nullcontext():  # threads: no grantee runs in between
            pool.resize(3)  # both are granted a slot to create in...
            pool.resize(1)  # ...both are taken back: only the held item fits
            pool.put(held)  # the first of them gets it, not a newcomer or the free list
            assert not pool._free  # (free_items would let the waiters run first)
        first.wait()
        second.wait()
        assert served == [("first", held), ("second", held)]
        assert tracker.created == [held]
        runner.check(pool, tracker, settled=True)

    runner.run(body)


@pytest.mark.parametrize("backend", ["eventlet", "gevent", "threads"])
def test_call_within_interrupts_a_green_wait_and_only_its_own_timeout(backend: str) -> None:
    runtime = backend_for(backend)
    runner = Runner(backend)
    assert runtime.call_within(5, lambda: 42) == (True, 42)
    if backend == "threads":  # (an OS thread cannot be interrupted: it runs)
        assert runtime.call_within(0.001, runner.yield_) == (True, None)
        return
    assert runtime.call_within(0.01, runner.until, lambda: False) == (False, None)

    def nested() -> None:
        runtime.call_within(5, runner.until, lambda: False)  # (its own, longer)

    assert runtime.call_within(0.01, nested) == (False, None)
