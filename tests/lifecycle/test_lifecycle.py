"""Lifecycle options, one by one, on a fake clock: each acts exactly when due."""

from __future__ import annotations

import logging
from typing import Any, Optional

import eventlet
import pytest
from eventlet.event import Event

from eventlet_pools import Backoff, Pool, PoolError, PoolEvent, PoolTimeout
from tests.conftest import CreateFailed, FakeClock, Item, Tracker, assert_invariants, assert_settled


def make(clock: FakeClock, tracker: Tracker, **options: Any) -> Pool[Item]:
    options.setdefault("max_size", 3)
    return Pool(create=tracker.make, dispose=tracker.dispose, clock=clock, **options)


class Recorder:
    """Every event of a pool, as (name, item, reason) in the order fired."""

    def __init__(self, pool: Pool[Any]) -> None:
        self.events: list[PoolEvent] = []
        for name in ("create", "create_failed", "checkout", "checkin", "dispose", "leak"):
            pool.listen(name, self.events.append)

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def disposed(self) -> list[tuple[Any, Optional[str]]]:
        return [(e.item, e.reason) for e in self.events if e.name == "dispose"]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def tracker() -> Tracker:
    return Tracker()


# ---------------------------------------------------------------- max_age
def test_max_age_free_item_disposed_by_maintenance_when_due(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_age=10)
    seen = Recorder(pool)
    first = pool.get()
    pool.put(first)
    clock.advance(9.9)
    assert seen.disposed() == []
    assert pool.get() is first  # not yet aged: handed out again
    pool.put(first)
    clock.advance(0.1)  # 10 s after creation
    assert seen.disposed() == [(first, "aged")]
    assert list(pool.free_items) == []
    second = pool.get()
    assert second is not first
    pool.put(second)
    assert_settled(pool, tracker)


def test_max_age_checked_out_item_disposed_when_it_comes_back(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_age=10)
    seen = Recorder(pool)
    held = pool.get()
    clock.advance(11)
    assert seen.disposed() == []  # maintenance leaves checked-out items alone
    pool.put(held)
    assert seen.disposed() == [(held, "aged")]
    assert pool.current_size == 0
    assert_settled(pool, tracker)


def test_max_age_found_free_at_checkout_is_replaced(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_age=10)
    old = pool.get()
    pool.put(old)
    clock.now += 10  # no hub turn: maintenance has not run yet
    new = pool.get()
    assert new is not old
    assert tracker.disposed == [old]
    assert pool.current_size == 1
    pool.put(new)
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- max_idle
def test_max_idle_evicts_down_to_min_size_only(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, min_size=1, max_size=3, max_idle=5)
    seen = Recorder(pool)
    items = [pool.get() for _ in range(3)]
    for obj in items:
        pool.put(obj)
    clock.advance(4.9)
    assert seen.disposed() == []
    clock.advance(0.1)
    assert [reason for _, reason in seen.disposed()] == ["idle", "idle"]
    assert pool.current_size == 1
    # The last one is min_size: nothing more is due, maintenance sleeps.
    assert pool._upkeep is not None
    assert pool._upkeep.due is None
    clock.advance(100)
    assert pool.current_size == 1
    assert_settled(pool, tracker)


def test_max_idle_counts_from_the_last_return(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_idle=5)
    obj = pool.get()
    pool.put(obj)
    clock.advance(4)
    pool.put(pool.get())  # used again: idle from now
    clock.advance(4)
    assert tracker.disposed == []
    clock.advance(1)
    assert tracker.disposed == [obj]


def count_rounds(pool: Pool[Any], clock: FakeClock) -> list[float]:
    """Note the clock at each maintenance round the pool runs from now on."""
    rounds: list[float] = []
    real_round = pool._upkeep_round

    def counting_round() -> Optional[float]:
        rounds.append(clock())
        return real_round()

    pool._upkeep_round = counting_round  # type: ignore[method-assign]
    return rounds


def test_maintenance_rounds_follow_deadlines_not_polling(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_idle=5)
    rounds = count_rounds(pool, clock)
    obj = pool.get()
    pool.put(obj)
    start = clock()
    for _ in range(40):
        clock.advance(0.25)  # 10 s in small steps: rounds run only when due
    assert [round(t - start, 2) for t in rounds] == [5.0]
    assert tracker.disposed == [obj]


# ---------------------------------------------------------------- max_uses
def test_max_uses_disposes_after_that_many_checkouts(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_uses=2)
    seen = Recorder(pool)
    obj = pool.get()
    pool.put(obj)
    assert pool.get() is obj
    pool.put(obj)  # second use ends here
    assert seen.disposed() == [(obj, "uses")]
    assert pool.get() is not obj
    assert tracker.alive == 1


def test_max_uses_refills_min_size(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, min_size=2, max_uses=1)
    held = pool.get()
    pool.put(held)
    assert pool.current_size == 1
    eventlet.sleep(0)  # maintenance refills
    assert pool.current_size == 2
    assert len(tracker.created) == 3
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- max_overflow
def test_max_overflow_allows_a_burst_then_disposes_on_return(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_size=2, max_overflow=1)
    seen = Recorder(pool)
    held = [pool.get() for _ in range(3)]
    assert pool.free() == 0
    with pytest.raises(PoolTimeout):
        pool.get(block=False)
    burst = held.pop()
    pool.put(burst)
    assert seen.disposed() == [(burst, "overflow")]
    assert pool.current_size == 2
    for obj in held:
        pool.put(obj)
    assert len(pool.free_items) == 2  # max_size items are kept
    assert_settled(pool, tracker)


def test_max_overflow_item_goes_to_a_waiter_instead_of_disposal(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_size=1, max_overflow=1)
    held = [pool.get(), pool.get()]
    got: list[Any] = []
    waiter = eventlet.spawn(lambda: got.append(pool.get()))
    eventlet.sleep(0)
    assert pool.waiting() == 1
    pool.put(held[1])  # the overflow item
    waiter.wait()
    assert got == [held[1]]
    assert tracker.disposed == []
    pool.put(held[0])  # now nobody waits: above max_size, it goes
    assert tracker.disposed == [held[0]]
    pool.put(got[0])
    assert tracker.disposed == [held[0]]
    assert_settled(pool, tracker)


def test_max_overflow_counts_in_resize(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_size=1, max_overflow=2)
    pool.resize(3)
    held = [pool.get() for _ in range(5)]
    assert pool.free() == 0
    for obj in held:
        pool.put(obj)
    assert pool.current_size == 3
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- check
class Health:
    """check= for tests: items in ``dead`` fail; counts the calls."""

    def __init__(self) -> None:
        self.dead: set[int] = set()
        self.raise_for: set[int] = set()
        self.calls: list[Any] = []

    def __call__(self, item: Any) -> bool:
        self.calls.append(item)
        if id(item) in self.raise_for:
            raise ConnectionError("ping failed")
        return id(item) not in self.dead


def test_check_runs_on_checkout_and_replaces_dead_items(clock: FakeClock, tracker: Tracker) -> None:
    health = Health()
    pool = make(clock, tracker, check=health)
    seen = Recorder(pool)
    first = pool.get()
    assert health.calls == []  # a brand-new item is not pinged
    pool.put(first)
    health.dead.add(id(first))
    second = pool.get()
    assert health.calls == [first]
    assert second is not first
    assert seen.disposed() == [(first, "check_failed")]
    assert pool.current_size == 1
    pool.put(second)
    assert pool.stats().checks == 1
    assert pool.stats().checks_failed == 1
    assert_settled(pool, tracker)


def test_check_that_raises_counts_as_failed_and_carries_the_error(clock: FakeClock, tracker: Tracker) -> None:
    health = Health()
    pool = make(clock, tracker, check=health)
    seen = Recorder(pool)
    obj = pool.get()
    pool.put(obj)
    health.raise_for.add(id(obj))
    replacement = pool.get()
    assert replacement is not obj
    (event,) = [e for e in seen.events if e.name == "dispose"]
    assert event.reason == "check_failed"
    assert isinstance(event.error, ConnectionError)
    pool.put(replacement)
    assert_settled(pool, tracker)


def test_check_failure_tries_the_other_free_items(clock: FakeClock, tracker: Tracker) -> None:
    health = Health()
    pool = make(clock, tracker, max_size=3, check=health)
    items = [pool.get() for _ in range(3)]
    for obj in items:
        pool.put(obj)
        health.dead.add(id(obj))  # a server restart: every free item is dead
    fresh = pool.get()
    assert fresh not in items
    assert pool.current_size == 1 + 2  # the caller's new item, two untested
    pool.put(fresh)
    assert_settled(pool, tracker)


def test_check_failure_then_create_failure_reaches_the_caller(clock: FakeClock, tracker: Tracker) -> None:
    health = Health()
    pool = make(clock, tracker, check=health)
    obj = pool.get()
    pool.put(obj)
    health.dead.add(id(obj))
    tracker.fail_next = 1
    with pytest.raises(CreateFailed):
        pool.get()
    assert pool.current_size == 0
    assert_settled(pool, tracker)


def test_check_interrupted_disposes_the_item_and_frees_the_slot(clock: FakeClock, tracker: Tracker) -> None:
    gate = Event()

    def slow_check(item: Any) -> bool:
        gate.wait()
        return True

    pool = make(clock, tracker, max_size=1, check=slow_check)
    pool.put(pool.get())
    getter = eventlet.spawn(pool.get)
    eventlet.sleep(0)  # the getter is inside check()
    getter.kill()
    assert pool.current_size == 0
    assert tracker.alive == 0
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- reset
def test_reset_runs_on_every_return(clock: FakeClock, tracker: Tracker) -> None:
    reset_calls: list[Any] = []
    pool = make(clock, tracker, reset=reset_calls.append)
    obj = pool.get()
    pool.put(obj)
    pool.put(pool.get())
    assert reset_calls == [obj, obj]
    assert tracker.disposed == []


def test_reset_failure_disposes_and_wakes_a_waiter(clock: FakeClock, tracker: Tracker) -> None:
    def reset(item: Any) -> None:
        raise RuntimeError("rollback failed")

    pool = make(clock, tracker, max_size=1, reset=reset)
    seen = Recorder(pool)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.put(held)
    got = waiter.wait()
    assert got is not held
    assert seen.disposed()[0] == (held, "reset_failed")
    assert isinstance(next(e for e in seen.events if e.name == "dispose").error, RuntimeError)
    pool.discard(got)
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- health checks
def test_health_checks_run_on_free_items_every_interval(clock: FakeClock, tracker: Tracker) -> None:
    health = Health()
    pool = make(clock, tracker, min_size=2, check=health, health_check_interval=30)
    seen = Recorder(pool)
    a, b = list(pool.free_items)
    clock.advance(29)
    assert health.calls == []
    health.dead.add(id(b))
    clock.advance(1)
    assert sorted(map(id, health.calls)) == sorted([id(a), id(b)])
    assert seen.disposed() == [(b, "check_failed")]
    assert next(iter(pool.free_items)) is a
    eventlet.sleep(0)  # refill to min_size
    assert pool.current_size == 2
    health.calls.clear()
    clock.advance(30)
    assert len(health.calls) == 2
    assert_settled(pool, tracker)


def test_health_check_never_holds_up_get_or_put(clock: FakeClock, tracker: Tracker) -> None:
    gate = Event()
    checking: list[Any] = []

    def slow_check(item: Any) -> bool:
        checking.append(item)
        if len(checking) == 1:  # the first check hangs until the gate opens
            gate.wait()
        return True

    pool = make(clock, tracker, min_size=2, check=slow_check, health_check_interval=10)
    clock.advance(10)
    assert len(checking) == 1  # one item at a time, out of free_items
    under_check = checking[0]
    assert all(obj is not under_check for obj in pool.free_items)
    other = pool.get(block=False)  # the other item, at once
    assert other is not under_check
    pool.put(other)
    gate.send(None)
    eventlet.sleep(0)
    eventlet.sleep(0)
    # The checkout checked `other`; maintenance then checked the first one
    # and left `other` alone: it was checked recently.
    assert checking == [under_check, other]
    assert pool.current_size == 2
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- leaks
def test_max_hold_reports_a_leak_once_with_the_checkout_stack(
    clock: FakeClock, tracker: Tracker, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make(clock, tracker, max_hold=60)
    seen = Recorder(pool)

    def checkout_site() -> Any:
        return pool.get()

    held = checkout_site()
    with caplog.at_level(logging.WARNING, logger="eventlet_pools"):
        clock.advance(59)
        assert "leak" not in seen.names()
        clock.advance(1)
        clock.advance(100)
    (leak,) = [e for e in seen.events if e.name == "leak"]
    assert leak.item is held
    assert leak.held == pytest.approx(60)
    assert leak.stack is not None
    assert "checkout_site" in leak.stack
    assert "checkout_site" in caplog.text
    assert pool.stats().leaks == 1
    pool.put(held)  # a late return is still a normal return
    assert tracker.disposed == []
    assert_settled(pool, tracker)


def test_reclaim_after_takes_the_slot_back_for_a_waiter(
    clock: FakeClock, tracker: Tracker, caplog: pytest.LogCaptureFixture
) -> None:
    pool = make(clock, tracker, max_size=1, max_hold=10, reclaim_after=20)
    seen = Recorder(pool)
    leaked = pool.get()
    got: list[Any] = []
    waiter = eventlet.spawn(lambda: got.append(pool.get()))
    eventlet.sleep(0)
    clock.advance(19)
    assert got == []
    clock.advance(1)
    waiter.wait()
    assert got
    assert got[0] is not leaked
    assert pool.stats().reclaimed == 1
    assert_invariants(pool, tracker)
    with caplog.at_level(logging.WARNING, logger="eventlet_pools"):
        pool.put(leaked)  # late: ignored with a warning, not an error
    assert "reclaimed" in caplog.text
    assert seen.disposed() == [(leaked, "reclaimed")]
    pool.put(got[0])
    assert_settled(pool, tracker)


def test_reclaimed_item_may_also_be_discarded(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_size=1, reclaim_after=5)
    leaked = pool.get()
    clock.advance(5)
    assert pool.free() == 1
    pool.discard(leaked)
    assert tracker.disposed == [leaked]
    assert_settled(pool, tracker)


def test_put_twice_is_an_error_that_changes_nothing(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_uses=10)
    a, b = pool.get(), pool.get()
    pool.put(a)
    with pytest.raises(PoolError, match="returned twice"):
        pool.put(a)
    pool.put(b)
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- create_retry
def test_create_retry_refills_min_size_with_backoff(clock: FakeClock, tracker: Tracker) -> None:
    attempts: list[float] = []
    make_item = tracker.make

    def create() -> Any:
        attempts.append(clock())
        return make_item()

    start = clock()
    pool: Pool[Any] = Pool(
        max_size=2,
        create=create,
        dispose=tracker.dispose,
        clock=clock,
        max_uses=1,
        create_retry=Backoff(first=1, factor=2, cap=3, jitter=0),
    )
    pool.min_size = 1  # set after construction: refill only, no prefill
    held = pool.get()
    tracker.fail_next = 3
    pool.put(held)  # max_uses=1: disposed, below min_size now
    eventlet.sleep(0)
    for _ in range(8):
        clock.advance(0.5)
    # get() creates at 0; the refill at 0 fails, and so do its retries at
    # +1 and +3 (1 + 2); the next waits the cap, 3 s: +6.
    assert [round(t - start, 1) for t in attempts] == [0.0, 0.0, 1.0, 3.0]
    clock.advance(1.9)
    assert len(attempts) == 4
    clock.advance(0.1)
    assert [round(t - start, 1) for t in attempts][-1] == 6.0
    assert pool.current_size == 1
    assert pool.stats().create_errors == 3
    assert_settled(pool, tracker)


def test_create_retry_serves_a_waiting_caller_when_create_recovers(
    clock: FakeClock, tracker: Tracker
) -> None:
    pool = make(clock, tracker, max_size=1, create_retry=Backoff(first=1, jitter=0))
    tracker.fail_next = 2
    result: list[Any] = []
    caller = eventlet.spawn(lambda: result.append(pool.get(timeout=10)))
    eventlet.sleep(0)
    assert pool.waiting() == 1  # its own create failed; it waits, no error
    clock.advance(1)  # retry fails
    assert result == []
    clock.advance(2)  # retry succeeds and the item goes to the caller
    caller.wait()
    assert len(result) == 1
    assert isinstance(result[0], Item)
    pool.put(result[0])
    assert_settled(pool, tracker)


def test_create_retry_caller_keeps_its_place_in_line(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_size=1, create_retry=Backoff(first=1, jitter=0))
    tracker.fail_next = 1
    tracker.switch_in_create = True  # "second" arrives while "first" creates
    served: list[str] = []

    def caller(name: str) -> None:
        obj = pool.get(timeout=10)
        served.append(name)
        pool.put(obj)

    first = eventlet.spawn(caller, "first")
    second = eventlet.spawn(caller, "second")
    eventlet.sleep(0)
    eventlet.sleep(0)  # first's create failed after second began to wait
    assert pool.waiting() == 2
    clock.advance(1)  # the retry succeeds
    first.wait()
    second.wait()
    assert served == ["first", "second"]
    assert_settled(pool, tracker)


def test_create_retry_caller_gets_the_creation_error_at_its_timeout(
    clock: FakeClock, tracker: Tracker
) -> None:
    pool = make(clock, tracker, max_size=1, create_retry=Backoff(first=1, jitter=0))
    tracker.fail_always = True
    callers = [eventlet.spawn(pool.get, timeout=5) for _ in range(2)]
    eventlet.sleep(0)
    for _ in range(6):
        clock.advance(1)
    errors = []
    for caller in callers:
        with pytest.raises(PoolTimeout, match="create\\(\\) kept failing") as info:
            caller.wait()
        assert isinstance(info.value.__cause__, CreateFailed)
        errors.append(info.value)
    # A fresh exception for each caller: the stored error is never re-raised
    # (its traceback would grow with each raise, shared by greenthreads).
    assert errors[0] is not errors[1]
    cause = errors[0].__cause__
    assert cause is not None
    assert cause.__traceback__ is not None
    assert pool.current_size == 0
    tracker.fail_always = False
    clock.advance(10)  # nobody needs an item: no more retries
    assert pool._retry_due is None
    assert_settled(pool, tracker)


def test_without_create_retry_the_error_is_immediate(clock: FakeClock, tracker: Tracker) -> None:
    pool = make(clock, tracker, max_size=1, max_uses=5)
    tracker.fail_next = 1
    with pytest.raises(CreateFailed):
        pool.get(timeout=5)
    assert_settled(pool, tracker)


def retry_pending(pool: Pool[Any]) -> bool:
    return pool._retry_due is not None


def test_create_retry_due_while_the_pool_is_full_does_not_spin(clock: FakeClock, tracker: Tracker) -> None:
    # Regression: a retry falling due when no capacity was left stayed due
    # for ever, and maintenance ran round after round without sleeping.
    pool = make(clock, tracker, max_size=1, create_retry=Backoff(first=1, jitter=0))
    rounds = count_rounds(pool, clock)
    tracker.fail_next = 1
    with pytest.raises(CreateFailed):
        pool.get(timeout=0)  # fails; a retry is due in 1 s
    assert retry_pending(pool)
    pool.resize(0)  # no capacity left when the retry falls due
    clock.advance(1)
    assert len(rounds) == 1
    assert not retry_pending(pool)
    for _ in range(5):
        clock.advance(0.1)
    assert len(rounds) == 1
    pool.resize(1)
    pool.put(pool.get())
    assert_settled(pool, tracker)
