"""Named regression tests, one per race: each pins a sequence point where a
naive pool loses an item, loses capacity, or strands a waiter."""

from __future__ import annotations

from typing import Any, Callable

import eventlet
import pytest
from eventlet import hubs
from eventlet.event import Event
from greenlet import GreenletExit

from eventlet_pools import Pool, PoolTimeout
from tests.conftest import CreateFailed, Tracker, assert_invariants, assert_settled

MakePool = Callable[..., "tuple[Pool[Any], Tracker]"]

INTERRUPTIONS = {
    "timeout": lambda: eventlet.Timeout(None),
    "kill": GreenletExit,
}


@pytest.fixture(params=sorted(INTERRUPTIONS))
def interruption(request: pytest.FixtureRequest) -> Callable[[], BaseException]:
    """What gets thrown into a waiter: an eventlet.Timeout or GreenletExit."""
    return INTERRUPTIONS[request.param]  # type: ignore[no-any-return]


def _wait_for(thread: Any) -> Any:
    try:
        return thread.wait()
    except (eventlet.Timeout, GreenletExit) as exc:
        return exc


def test_waiters_woken_on_resize_up(make_pool: MakePool) -> None:
    # eventlet's resize() only changes max_size: waiters sleep on.
    pool, tracker = make_pool(max_size=0)
    waiters = [eventlet.spawn(pool.get, True, 5) for _ in range(3)]
    eventlet.sleep(0)
    pool.resize(3)
    items = [w.wait() for w in waiters]
    assert len({id(i) for i in items}) == 3
    for obj in items:
        pool.put(obj)
    assert_settled(pool, tracker)


def test_failed_create_does_not_strand_second_waiter(make_pool: MakePool) -> None:
    # eventlet PR #113: max_size=1, the holder discards its item, the first
    # woken waiter's create() fails; the second waiter must still be served
    # once create() works again.
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    first = eventlet.spawn(pool.get)
    second = eventlet.spawn(pool.get, True, 5)
    eventlet.sleep(0)
    tracker.fail_next = 1
    pool.discard(held)
    with pytest.raises(CreateFailed):
        first.wait()
    fresh = second.wait()
    assert fresh is tracker.created[-1]
    pool.put(fresh)
    assert_settled(pool, tracker)


def test_failed_create_with_waiters_passes_capacity_on(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    tracker.gate = Event()
    creator = eventlet.spawn(pool.get)
    eventlet.sleep(0)  # creator is inside create(); the slot is taken
    waiter = eventlet.spawn(pool.get, True, 5)
    eventlet.sleep(0)
    assert pool.waiting() == 1
    tracker.fail_next = 1
    tracker.gate.send()
    with pytest.raises(CreateFailed):
        creator.wait()
    obj = waiter.wait()
    pool.put(obj)
    assert_settled(pool, tracker)


def test_interrupt_after_grant_passes_item_to_next_waiter(
    make_pool: MakePool, interruption: Callable[[], BaseException]
) -> None:
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    first = eventlet.spawn(pool.get)
    second = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    # The interruption is queued on the hub before put() schedules the wake-up,
    # so it lands after the grant and before the waiter runs.
    hubs.get_hub().schedule_call_global(0, first.throw, interruption())
    pool.put(held)
    assert isinstance(_wait_for(first), BaseException)
    assert second.wait() is held
    pool.put(held)
    assert_settled(pool, tracker)


def test_interrupt_after_grant_with_no_other_waiter_frees_item(
    make_pool: MakePool, interruption: Callable[[], BaseException]
) -> None:
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    only = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    hubs.get_hub().schedule_call_global(0, only.throw, interruption())
    pool.put(held)
    assert isinstance(_wait_for(only), BaseException)
    assert pool.get(block=False) is held
    pool.put(held)
    assert_settled(pool, tracker)


def test_interrupt_after_slot_grant_passes_slot_on(
    make_pool: MakePool, interruption: Callable[[], BaseException]
) -> None:
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    first = eventlet.spawn(pool.get)
    second = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    hubs.get_hub().schedule_call_global(0, first.throw, interruption())
    pool.discard(held)  # grants "create one" to the first waiter
    assert isinstance(_wait_for(first), BaseException)
    fresh = second.wait()
    assert fresh is tracker.created[-1]
    pool.put(fresh)
    assert_settled(pool, tracker)


def test_interrupt_while_waiting_loses_nothing(
    make_pool: MakePool, interruption: Callable[[], BaseException]
) -> None:
    pool, tracker = make_pool(max_size=2)
    held = [pool.get(), pool.get()]
    waiters = [eventlet.spawn(pool.get) for _ in range(5)]
    eventlet.sleep(0)
    for w in waiters[::2]:
        w.kill(interruption())
    assert pool.waiting() == 2
    for obj in held:
        pool.put(obj)
    for w in waiters[1::2]:
        pool.put(w.wait())
    assert_settled(pool, tracker)


def test_interrupt_inside_create_restores_capacity(
    make_pool: MakePool, interruption: Callable[[], BaseException]
) -> None:
    pool, tracker = make_pool(max_size=1)
    tracker.gate = Event()
    creator = eventlet.spawn(pool.get)
    eventlet.sleep(0)  # parked inside create()
    waiter = eventlet.spawn(pool.get, True, 5)
    eventlet.sleep(0)
    creator.kill(interruption())
    assert isinstance(_wait_for(creator), BaseException)
    tracker.gate.send()
    obj = waiter.wait()
    pool.put(obj)
    assert_settled(pool, tracker)


def test_own_timeout_after_grant_keeps_the_item(make_pool: MakePool) -> None:
    # The waiter's deadline passes after it was granted but before it ran:
    # the grant came first, so it gets the item rather than PoolTimeout.
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    waiter = eventlet.spawn(pool.get, True, 60)
    eventlet.sleep(0)
    record = pool._waiters[0]
    pool.put(held)
    pool._waiters._expire(record)  # what the hub does when the deadline passes
    assert waiter.wait() is held
    pool.put(held)
    assert_settled(pool, tracker)


def test_timed_out_getter_skipped_by_put(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    impatient = eventlet.spawn(pool.get, True, 0.001)
    patient = eventlet.spawn(pool.get, True, 5)
    with pytest.raises(PoolTimeout):
        impatient.wait()
    assert pool.waiting() == 1
    pool.put(held)
    assert patient.wait() is held
    pool.put(held)
    assert_settled(pool, tracker)


def test_item_handed_to_a_waiter_is_not_free_and_a_new_get_takes_the_free_one(make_pool: MakePool) -> None:
    # An item put() handed to a waiter that has not run yet is that
    # waiter's: it is not in free_items (eventlet.db_pool walks free_items
    # expecting only its own free tuples), but on its way (channel.queue).
    pool, tracker = make_pool(max_size=2)
    a, b = pool.get(), pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.put(a)  # handed to the waiter, which has not run yet
    pool.put(b)  # nobody waiting now: a plain free item
    assert list(pool._free) == [b]
    assert list(pool.channel.queue) == [a]
    assert_invariants(pool, tracker)
    assert pool.get(block=False) is b
    assert waiter.wait() is a
    pool.put(a)
    pool.put(b)
    assert_settled(pool, tracker)


def test_shrink_while_item_promised_disposes_it_on_abandon(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=2)
    a, b = pool.get(), pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    hubs.get_hub().schedule_call_global(0, waiter.throw, GreenletExit())
    pool.put(a)
    pool.resize(1)
    _wait_for(waiter)
    assert tracker.disposed == [a]
    pool.put(b)
    assert pool.free() == 1
    assert_settled(pool, tracker)


def test_close_while_create_in_progress_disposes_the_new_item(make_pool: MakePool) -> None:
    from eventlet_pools import PoolClosed

    pool, tracker = make_pool(max_size=1)
    tracker.gate = Event()
    creator = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.close()
    tracker.gate.send()
    with pytest.raises(PoolClosed):
        creator.wait()
    assert tracker.alive == 0
    assert_settled(pool, tracker)
