"""The Pool contract, run against every flavour (create=, subclass, TokenPool).

The first half is eventlet.pools' own behaviour, which a drop-in must keep;
the second half is what eventlet_pools adds.
"""

from __future__ import annotations

from typing import Any, Callable

import eventlet
import pytest
from eventlet import hubs
from eventlet.queue import Queue

from eventlet_pools import Pool, PoolClosed, PoolError, PoolTimeout
from tests.conftest import Tracker, assert_settled

MakePool = Callable[..., "tuple[Pool[Any], Tracker]"]


# ---------------------------------------------------------------------------
# eventlet.pools behaviour


def test_items_come_in_creation_order(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=4)
    got = [pool.get() for _ in range(4)]
    assert len(tracker.created) == 4
    assert all(a is b for a, b in zip(got, tracker.created))


def test_free_counts_items_and_spare_capacity(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=4)
    assert pool.free() == 4
    one = pool.get()
    assert pool.free() == 3
    pool.put(one)
    assert pool.free() == 4
    assert len(pool.free_items) == 1


def test_exhausted_pool_hands_returned_item_to_waiter(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=4)
    results: Queue = Queue()
    eventlet.spawn(lambda: results.put(pool.get()))
    held = [pool.get() for _ in range(3)]
    eventlet.sleep(0)  # the consumer took the fourth item
    consumer_item = results.get()
    assert pool.free() == 0
    eventlet.spawn(lambda: results.put(pool.get()))
    eventlet.sleep(0)
    assert pool.waiting() == 1
    pool.put(held[0])
    assert results.get() is held[0]
    assert pool.waiting() == 0
    for obj in (consumer_item, *held[1:], held[0]):
        pool.put(obj)
    assert_settled(pool)


def test_waiting_counts_blocked_greenthreads(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=2)
    held = [pool.get(), pool.get()]
    assert pool.waiting() == 0
    threads = [eventlet.spawn(pool.get) for _ in range(3)]
    eventlet.sleep(0)
    assert pool.waiting() == 3
    for thread in threads:
        thread.kill()
    assert pool.waiting() == 0
    for obj in held:
        pool.put(obj)
    assert_settled(pool)


def test_default_order_is_round_robin(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=4)
    one, two = pool.get(), pool.get()
    pool.put(one)
    pool.put(two)
    assert pool.get() is one
    assert pool.get() is two


def test_order_as_stack_serves_last_returned_first(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=3, order_as_stack=True)
    one, two = pool.get(), pool.get()
    pool.put(one)
    pool.put(two)
    assert pool.get() is two
    assert pool.get() is one


def test_order_and_free_items_can_be_changed_at_run_time(make_pool: MakePool) -> None:
    from collections import deque

    pool, _ = make_pool(max_size=3)
    one, two = pool.get(), pool.get()
    pool.order_as_stack = True
    pool.put(one)
    pool.put(two)
    assert pool.get() is two
    pool.free_items = deque(pool.free_items)  # replaced, as some subclasses do
    pool.put(two)
    assert list(pool.free_items) == [two, one]
    pool.order_as_stack = False
    pool.get(), pool.get()
    pool.put(one)
    pool.put(two)
    assert [pool.get(), pool.get()] == [one, two]


def test_puts_from_other_greenthreads_all_complete(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=2)
    done: Queue = Queue()

    def give_back(obj: Any, index: int) -> None:
        pool.put(obj)
        done.put(index)

    with eventlet.Timeout(5):
        for index in range(3):  # the third get waits for the first put
            eventlet.spawn(give_back, pool.get(), index)
        assert sorted(done.get() for _ in range(3)) == [0, 1, 2]
    assert_settled(pool)


def test_resize_down_drops_extras_as_they_come_back(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=2)
    a, b = pool.get(), pool.get()
    assert pool.free() == 0
    pool.resize(1)
    pool.put(a)
    assert tracker.disposed == [a]
    pool.put(b)
    assert pool.free() == 1
    pool.resize(2)
    assert pool.free() == 2
    assert_settled(pool, tracker)


def test_create_contention_creates_only_max_size(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=4, switch_in_create=True)

    def cycle() -> None:
        obj = pool.get()
        assert any(obj is c for c in tracker.created)
        pool.put(obj)

    green = eventlet.GreenPool()
    for _ in range(100):
        green.spawn_n(cycle)
    with eventlet.Timeout(10):
        green.waitall()
    assert len(tracker.created) == 4
    assert_settled(pool, tracker)


def test_put_with_timed_out_getters_does_not_block(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=2)
    held = [pool.get(), pool.get()]
    getters = [eventlet.spawn(pool.get) for _ in range(5)]
    eventlet.sleep(0)
    hub = hubs.get_hub()
    for getter in getters:  # each will have a Timeout thrown in, not yet
        hub.schedule_call_global(0, getter.throw, eventlet.Timeout(None))
    with eventlet.Timeout(5):
        pool.put(held[0])
    assert len(pool.free_items) == 1
    for getter in getters:
        with pytest.raises(eventlet.Timeout):
            getter.wait()
    assert len(pool.free_items) == 1
    assert pool.waiting() == 0
    pool.put(held[1])
    assert_settled(pool, tracker)


def test_min_size_items_are_created_up_front(make_pool: MakePool) -> None:
    pool, tracker = make_pool(min_size=3, max_size=3)
    assert len(pool.free_items) == 3
    assert len(tracker.created) == 3
    assert pool.get() is tracker.created[0]


def test_base_pool_without_create_raises_not_implemented() -> None:
    pool: Pool[Any] = Pool()
    with pytest.raises(NotImplementedError, match="create"):
        pool.get()
    assert pool.free() == 4
    assert_settled(pool)


# ---------------------------------------------------------------------------
# timeouts and non-blocking gets


def test_get_timeout_raises_pool_timeout_and_restores_state(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    with pytest.raises(PoolTimeout) as info:
        pool.get(timeout=0.001)
    assert isinstance(info.value, TimeoutError)
    assert pool.waiting() == 0
    pool.put(held)
    assert_settled(pool, tracker)


def test_pool_timeout_is_the_default_for_get(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=1, timeout=0.001)
    held = pool.get()
    with pytest.raises(PoolTimeout):
        pool.get()
    with pytest.raises(PoolTimeout), pool.item():
        pass
    pool.put(held)


def test_zero_timeout_fails_at_once_without_waiting(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=1)
    held = pool.get()
    with pytest.raises(PoolTimeout):
        pool.get(timeout=0)
    assert pool.waiting() == 0
    pool.put(held)


def test_nonblocking_get_when_exhausted(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=1)
    held = pool.get()
    with pytest.raises(PoolTimeout, match="block=False"):
        pool.get(block=False)
    pool.put(held)
    assert pool.get(block=False) is held
    pool.put(held)


# ---------------------------------------------------------------------------
# put, item(), discard


def test_put_with_nothing_checked_out_disposes_the_stray_and_keeps_the_size(
    make_pool: MakePool, caplog: pytest.LogCaptureFixture
) -> None:
    # A placeholder put back after a failed create() (Swift's memcache pool):
    # eventlet's pool would keep it and grow by one; ours drops it.
    pool, tracker = make_pool(max_size=2)
    pool.put(pool.get())
    before = (pool.current_size, list(pool.free_items), pool.free())
    placeholder = (None, None)
    tracker.strays.append(placeholder)
    with caplog.at_level("WARNING", logger="eventlet_pools"):
        pool.put(placeholder)
    assert (pool.current_size, list(pool.free_items), pool.free()) == before
    assert tracker.disposed_strays == [placeholder]
    assert pool.stats().disposed["stray"] == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"{placeholder!r} was put back into {pool!r} with nothing checked out; disposing it"
    ]
    assert_settled(pool, tracker)


def test_an_item_put_twice_is_kept_once_and_not_disposed(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=2)
    item = pool.get()
    pool.put(item)
    pool.put(item)  # nothing is checked out, and the item is already free
    assert list(pool.free_items) == [item]
    assert not tracker.disposed
    assert (pool.current_size, pool.free()) == (1, 2)
    assert_settled(pool, tracker)


def test_put_never_switches(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=1)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    ran: list[str] = []
    eventlet.spawn(ran.append, "other")
    pool.put(held)
    assert ran == []  # nobody ran during put()
    assert waiter.wait() is held
    pool.put(held)


def test_item_context_returns_item_on_exception(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    seen: list[Any] = []

    def use_and_fail() -> None:
        with pool.item() as obj:
            seen.append(obj)
            assert pool.free() == 0
            raise KeyError("boom")

    with pytest.raises(KeyError):
        use_and_fail()
    (obj,) = seen
    assert pool.get() is obj
    pool.put(obj)
    assert_settled(pool, tracker)


def test_item_context_returns_item_when_killed(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    inside = eventlet.event.Event()

    def hold_for_ever() -> None:
        with pool.item():
            inside.send()
            eventlet.sleep(3600)

    holder = eventlet.spawn(hold_for_ever)
    inside.wait()
    holder.kill()
    assert pool.free() == 1
    assert_settled(pool, tracker)


def test_item_context_discard_drops_the_item(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    ctx = pool.item()
    with ctx as obj:
        ctx.discard()
    assert tracker.disposed == [obj]
    assert pool.get() is not obj
    with pytest.raises(PoolError, match="outside the with block"):
        ctx.discard()


@pytest.mark.parametrize("options", [{}, {"max_uses": 100}], ids=["plain", "managed"])
def test_pool_discard_inside_item_block_is_not_put_back(make_pool: MakePool, options: dict[str, Any]) -> None:
    # Another item is out, so a wrong put() back would pass the count check.
    pool, tracker = make_pool(max_size=2, **options)
    other = pool.get()
    with pool.item() as obj:
        pool.discard(obj)
    assert tracker.disposed == [obj]
    assert all(free is not obj for free in pool.free_items)
    pool.put(other)
    assert pool._in_context == {}
    assert_settled(pool, tracker)


def test_item_context_is_forgotten_when_the_block_ends(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    with pool.item():
        assert len(pool._in_context) == 1
    assert pool._in_context == {}
    with pytest.raises(RuntimeError), pool.item():
        raise RuntimeError("the block failed")
    assert pool._in_context == {}
    assert_settled(pool, tracker)


def test_discard_frees_the_slot_and_wakes_a_waiter_to_create(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    broken = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.discard(broken)
    assert tracker.disposed == [broken]
    fresh = waiter.wait()
    assert fresh is tracker.created[1]
    pool.put(fresh)
    assert_settled(pool, tracker)


def test_discard_with_nothing_checked_out_raises(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    with pytest.raises(PoolError):
        pool.discard(object())
    assert tracker.disposed == []
    assert pool.free() == 1


# ---------------------------------------------------------------------------
# resize, close, dispose


def test_resize_up_wakes_as_many_waiters_as_capacity_allows(make_pool: MakePool) -> None:
    pool, tracker = make_pool(max_size=1)
    held = pool.get()
    waiters = [eventlet.spawn(pool.get) for _ in range(4)]
    eventlet.sleep(0)
    pool.resize(3)  # two more slots: the first two waiters, at once
    assert pool.waiting() == 2
    eventlet.sleep(0)
    assert [w.dead for w in waiters] == [True, True, False, False]
    got = [waiters[0].wait(), waiters[1].wait()]
    pool.put(held)
    for obj in got:
        pool.put(obj)
    for w in waiters[2:]:
        pool.put(w.wait())
    assert_settled(pool, tracker)


def test_max_size_assignment_resizes(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=1)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.max_size = 2
    assert pool.max_size == 2
    other = waiter.wait()
    pool.put(other)
    pool.put(held)


def test_close_fails_waiters_and_future_gets(make_pool: MakePool) -> None:
    pool, tracker = make_pool(min_size=1, max_size=2)
    free_item, held = pool.get(), pool.get()
    pool.put(free_item)
    pool.get()  # round robin: take free_item back out
    pool.put(free_item)
    waiter_pool, _ = make_pool(max_size=1)
    waiter_pool.get()
    waiters = [eventlet.spawn(waiter_pool.get) for _ in range(3)]
    eventlet.sleep(0)
    waiter_pool.close()
    for w in waiters:
        with pytest.raises(PoolClosed):
            w.wait()
    assert waiter_pool.waiting() == 0

    pool.close()
    assert pool.closed
    assert tracker.disposed == [free_item]  # free items go now
    with pytest.raises(PoolClosed):
        pool.get()
    pool.put(held)  # checked-out ones when they come back
    assert tracker.disposed == [free_item, held]
    assert pool.current_size == 0
    pool.close()  # idempotent
    assert_settled(pool, tracker)


def test_repr_shows_size_and_state(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=3)
    obj = pool.get()
    assert "size=1/3" in repr(pool)
    assert "free=2" in repr(pool)
    pool.put(obj)
    pool.close()
    assert "closed" in repr(pool)
