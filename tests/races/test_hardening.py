"""Named regression tests for the defects probing found: bad input
refused on every path, no creation beyond a shrunk size, create_retry at
start-up, check() within the get() timeout, foreign puts with lifecycle
options, and the DB-API pool's handling of suspect and killed connections."""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import threading
import time
import warnings
from collections import deque
from typing import Any, Callable

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from eventlet_pools import (
    Backoff,
    ConnectionPool,
    GreenthreadLocalPool,
    Pool,
    PoolError,
    PoolTimeout,
    StaticPool,
)
from tests.conftest import CreateFailed, LockedTracker, Tracker, assert_settled

pytestmark = pytest.mark.timeout(30)

BAD_TIMEOUTS = [-1, math.nan, "1", [1], True]


# ---------------------------------------------------------------- bad get() arguments
def _each_path(pool: Pool[Any], get: Callable[..., Any]) -> None:
    """Try every bad argument on the three paths of get(): a free item, room
    to create, and a full pool (which would wait)."""
    for state in ("free", "create", "full"):
        held = []
        if state == "free":
            pool.put(pool.get())
        if state == "create":  # nothing free, room to create
            held = [pool.get() for _ in range(len(pool._free))]
            assert pool.current_size < pool.max_size
        if state == "full":
            held = [pool.get() for _ in range(pool.max_size)]
        before = (pool.current_size, len(pool._free), pool.waiting())
        for bad in BAD_TIMEOUTS:
            with pytest.raises((TypeError, ValueError), match="timeout"):
                get(timeout=bad)
        if state != "free":  # the fast path leaves block unchecked: see get()
            with pytest.raises(TypeError, match="block must be True or False"):
                get(block="no")
        assert (pool.current_size, len(pool._free), pool.waiting()) == before, state
        for item in held:
            pool.put(item)


@pytest.mark.parametrize("backend", ["eventlet", "threads"])
def test_bad_get_arguments_are_refused_on_every_path(backend: str) -> None:
    tracker = LockedTracker() if backend == "threads" else Tracker()
    for max_uses in (None, 100):  # the plain and the lifecycle path
        pool = Pool(
            max_size=2, create=tracker.make, dispose=tracker.dispose, backend=backend, max_uses=max_uses
        )
        _each_path(pool, pool.get)
        pool.close()


def test_bad_aget_arguments_are_refused_on_every_path() -> None:
    async def main() -> None:
        tracker = Tracker()
        pool = Pool(max_size=2, create=tracker.make, backend="asyncio")
        for state in ("free", "create", "full"):
            held = []
            if state == "free":
                pool.put(await pool.aget())
            if state == "create":  # nothing free, room to create
                held = [await pool.aget() for _ in range(len(pool._free))]
            if state == "full":
                held = [await pool.aget() for _ in range(2)]
            for bad in BAD_TIMEOUTS:
                with pytest.raises((TypeError, ValueError), match="timeout"):
                    await pool.aget(timeout=bad)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="block"):
                await pool.aget(block="no")  # type: ignore[arg-type]
            for item in held:
                pool.put(item)
        assert pool.waiting() == 0

    asyncio.run(asyncio.wait_for(main(), 20))


@pytest.mark.parametrize("timeout", [math.inf, 1e12])
def test_threads_wait_with_an_infinite_or_huge_timeout(timeout: float) -> None:
    for pool in (
        Pool(max_size=1, create=object, backend="threads"),
        Pool(max_size=1, create=object, backend="threads", timeout=timeout),
    ):
        held = pool.get()
        got: list[Any] = []
        waiter = threading.Thread(target=lambda p=pool, out=got: out.append(p.get(timeout=timeout)))
        waiter.start()
        deadline = time.monotonic() + 10
        while pool.waiting() != 1:  # a sequence point: it is parked
            assert time.monotonic() < deadline
            time.sleep(0.001)
        pool.put(held)
        waiter.join(10)
        assert got == [held]


# ---------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: setattr(Pool(), "free_items", [1]), TypeError, "free_items must be a collections.deque"),
        (lambda: setattr(Pool(), "min_size", -5), ValueError, "min_size must be >= 0"),
        (lambda: setattr(Pool(), "current_size", -1), ValueError, "current_size must be >= 0"),
        (lambda: setattr(Pool(), "current_size", "1"), TypeError, "current_size must be an int"),
        (lambda: Pool(order_as_stack="no"), TypeError, "order_as_stack must be True or False"),  # type: ignore[arg-type]
        (lambda: GreenthreadLocalPool(0, object), ValueError, "max_size must be >= 1"),
        (lambda: ConnectionPool(object, max_size=0), ValueError, "max_size must be >= 1"),
        (lambda: StaticPool(), TypeError, "StaticPool needs create="),
    ],
)
def test_bad_configuration_is_refused(make: Callable[[], Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_a_create_returning_none_is_refused_and_loses_no_slot() -> None:
    pool: Pool[Any] = Pool(max_size=1, create=lambda: None)
    with pytest.raises(TypeError, match="returned None, not an item"):
        pool.get()
    assert (pool.current_size, pool.free()) == (0, 1)
    assert pool.stats().create_errors == 1


def test_a_connect_returning_none_is_refused_and_loses_no_slot() -> None:
    pool = ConnectionPool(lambda: None, max_size=1)
    with pytest.raises(TypeError, match="connect\\(\\) returned None"):
        pool.connect()
    assert pool.free() == 1
    pool.close()


# ---------------------------------------------------------------- shrink after granting slots
def test_waiters_granted_creation_slots_before_a_shrink_do_not_create() -> None:
    tracker = Tracker()
    pool = Pool(max_size=2, create=tracker.make, dispose=tracker.dispose)
    held = [pool.get(), pool.get()]
    waiters = [eventlet.spawn(pool.get) for _ in range(2)]
    eventlet.sleep(0)
    pool.resize(4)  # both waiters are granted a slot to create in...
    pool.resize(1)  # ...and the pool shrinks before they run
    eventlet.sleep(0)
    assert len(tracker.created) == 2  # nobody created beyond the new size
    assert pool.waiting() == 2  # both wait again, in their order
    for item in held:
        pool.put(item)  # the first is disposed (over size), the second handed on
    first = waiters[0].wait()
    assert first is held[1]
    pool.put(first)
    assert waiters[1].wait() is first
    pool.put(first)
    assert tracker.max_alive == 2
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- create_retry at start-up
def test_create_retry_brings_the_pool_up_when_the_prefill_fails(clock: Any) -> None:
    tracker = Tracker()
    tracker.fail_next = 2
    pool = Pool(
        min_size=2,
        max_size=3,
        create=tracker.make,
        dispose=tracker.dispose,
        clock=clock,
        create_retry=Backoff(first=1, factor=2, jitter=0),
    )
    assert pool.current_size == 0  # up, though the database is not
    for _ in range(4):
        clock.advance(1)
    assert pool.current_size == 2  # filled in the background
    assert len(tracker.created) == 2
    pool.close()


def test_without_create_retry_a_failing_prefill_raises() -> None:
    tracker = Tracker()
    tracker.fail_next = 1
    with pytest.raises(CreateFailed):
        Pool(min_size=2, create=tracker.make, dispose=tracker.dispose)
    assert tracker.alive == 0


# ---------------------------------------------------------------- check() within the timeout
def test_a_slow_check_is_bounded_by_the_get_timeout() -> None:
    tracker = Tracker()

    def slow_check(item: Any) -> bool:
        eventlet.sleep(3)
        return True

    pool = Pool(max_size=1, create=tracker.make, dispose=tracker.dispose, check=slow_check)
    pool.put(pool.get())
    started = time.monotonic()
    with pytest.raises(PoolTimeout, match="outlasted the get\\(\\) timeout"):
        pool.get(timeout=0.2)
    assert time.monotonic() - started < 2
    # The item was mid-check: its state is unknown, so it is gone, its slot free.
    assert tracker.alive == 0
    assert pool.free() == 1
    assert pool.stats().disposed["check_failed"] == 1


def test_a_quick_check_still_runs_for_a_get_that_may_not_wait() -> None:
    checked: list[Any] = []

    def check(item: Any) -> bool:
        checked.append(item)
        return True

    pool = Pool(max_size=1, create=object, check=check)
    item = pool.get()
    pool.put(item)
    assert pool.get(timeout=0) is item
    assert checked == [item]


# ---------------------------------------------------------------- foreign and double puts
def test_with_lifecycle_options_a_foreign_put_raises_and_changes_nothing() -> None:
    tracker = Tracker()
    pool = Pool(max_size=2, create=tracker.make, dispose=tracker.dispose, max_uses=10)
    held = pool.get()
    before = (pool.current_size, list(pool._free), pool.free())
    with pytest.raises(PoolError, match="never checked out"):
        pool.put(object())
    with pytest.raises(PoolError, match="not checked out"):
        pool.discard(object())
    assert (pool.current_size, list(pool._free), pool.free()) == before
    pool.put(held)
    assert_settled(pool, tracker)


def test_with_lifecycle_options_a_double_put_never_reaches_two_callers() -> None:
    tracker = Tracker()
    pool = Pool(max_size=1, create=tracker.make, dispose=tracker.dispose, max_uses=10)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.put(held)  # handed to the waiter, which has not run yet
    with pytest.raises(PoolError, match="returned twice"):
        pool.put(held)
    assert waiter.wait() is held
    with pytest.raises(PoolTimeout):
        pool.get(block=False)  # one item, held by the waiter: nobody else has it
    pool.put(held)
    with pytest.raises(PoolError, match="returned twice"):
        pool.put(held)
    assert_settled(pool, tracker)


def test_items_out_before_tracking_started_still_come_back() -> None:
    tracker = Tracker()
    pool = Pool(max_size=2, create=tracker.make, dispose=tracker.dispose)
    early = [pool.get(), pool.get()]
    pool.listen("checkout", lambda event: None)  # tracking starts now
    pool.put(early[0])
    pool.discard(early[1])
    tracked = pool.get()
    with pytest.raises(PoolError, match="never checked out"):
        pool.put(object())  # no untracked checkout is left to account for it
    pool.put(tracked)
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- DB-API
class Flaky:
    """A sqlite3 connection whose server can 'go away'."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.dead = False

    def cursor(self) -> Any:
        if self.dead:
            raise sqlite3.OperationalError("server closed the connection unexpectedly")
        return self.conn.cursor()

    def rollback(self) -> None:
        self.conn.rollback()

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        if self.dead:
            raise sqlite3.OperationalError("connection already closed by the server")
        self.conn.close()


def test_a_suspect_connection_is_checked_with_the_pools_own_check() -> None:
    checks: list[Any] = []

    def my_check(conn: Any) -> bool:
        checks.append(conn)
        return True

    pool = ConnectionPool(Flaky, max_size=1, check=my_check, is_disconnect=lambda exc: True)
    conn = pool.connect()
    raw = conn.connection
    raw.dead = True
    with pytest.raises(sqlite3.OperationalError):
        conn.cursor().execute("SELECT 1")  # suspect from now on
    raw.dead = False
    conn.close()  # rolled back, then checked with my_check (not SELECT 1)
    assert checks == [raw]
    with pool.connection() as again:
        assert again.connection is raw
    pool.close()


def test_with_check_none_a_suspect_connection_that_rolls_back_is_kept() -> None:
    pool = ConnectionPool(Flaky, max_size=1, check=None, is_disconnect=lambda exc: True)
    conn = pool.connect()
    raw = conn.connection
    raw.dead = True
    with pytest.raises(sqlite3.OperationalError):
        conn.cursor().execute("SELECT 1")
    raw.dead = False
    conn.close()
    with pool.connection() as again:
        assert again.connection is raw
    pool.close()


def test_closing_a_connection_the_server_killed_logs_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    pool = ConnectionPool(Flaky, max_size=1)
    conn = pool.connect()
    conn.connection.dead = True
    with caplog.at_level(logging.DEBUG, logger="eventlet_pools"):
        conn.invalidate()  # closing it raises: the server already closed it
    records = [r for r in caplog.records if "closing" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert records[0].exc_info is None  # no traceback
    assert "already closed by the server" in records[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert pool.free() == 1
    pool.close()


def test_free_items_setter_hands_items_to_waiters() -> None:
    pool = Pool(max_size=1, create=object)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.current_size = 0  # the subclass dropped the held item itself...
    replacement = waiter.wait()  # ...so the waiter was let create one
    assert replacement is not held
    pool.free_items = deque()
    assert pool.current_size == 1


def test_a_waiter_whose_slot_a_shrink_took_back_stays_ahead_of_later_ones() -> None:
    # Found by the hypothesis state machine: the later waiter parks while
    # the first one holds a creation slot it has not used yet.
    pool: Pool[Any] = Pool(max_size=1, create=object)
    held = pool.get()
    served: list[str] = []

    def waiter(name: str) -> None:
        pool.put(pool.get())
        served.append(name)

    first = eventlet.spawn(waiter, "first")
    eventlet.sleep(0)  # first waits
    later = eventlet.spawn(waiter, "later")  # runs at the next hub turn
    pool.discard(held)  # first is granted a slot to create in...
    pool.resize(0)  # ...which is gone before it runs
    eventlet.sleep(0)  # later parks; first finds its slot gone and waits again
    assert pool.waiting() == 2
    pool.resize(1)
    first.wait()
    later.wait()
    assert served == ["first", "later"]
