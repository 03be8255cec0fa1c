"""The pool variants: the contract every pool class keeps, then what each
variant does differently."""

from __future__ import annotations

import json
import random
import warnings
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.queue
    from eventlet.event import Event
    from greenlet import GreenletExit, greenlet

import contextlib

from eventlet_pools import (
    AssertionPool,
    GreenthreadLocalPool,
    NullPool,
    Pool,
    PoolClosed,
    PoolError,
    PoolEvent,
    PoolTimeout,
    StaticPool,
    TokenPool,
)
from tests.conftest import CreateFailed, Tracker, assert_invariants

KINDS = ("Pool", "TokenPool", "NullPool", "StaticPool", "GreenthreadLocalPool", "AssertionPool")

MakeAny = Callable[[], tuple[Pool[Any], Tracker]]


def build(kind: str, tracker: Tracker) -> Pool[Any]:
    """A pool of ``kind`` that can hold one item, its creates and disposes tracked."""
    if kind == "Pool":
        return Pool(max_size=1, create=tracker.make, dispose=tracker.dispose)
    if kind == "TokenPool":

        class Tokens(TokenPool):
            def create(self) -> Any:
                return tracker.make(super().create)

        return Tokens(max_size=1, dispose=tracker.dispose)
    if kind == "NullPool":
        return NullPool(1, tracker.make, dispose=tracker.dispose)
    if kind == "StaticPool":
        return StaticPool(tracker.make, dispose=tracker.dispose)
    if kind == "GreenthreadLocalPool":
        return GreenthreadLocalPool(1, tracker.make, dispose=tracker.dispose)
    if kind == "AssertionPool":
        return AssertionPool(tracker.make, dispose=tracker.dispose)
    raise AssertionError(kind)


@pytest.fixture(params=KINDS)
def make_any(request: pytest.FixtureRequest) -> MakeAny:
    def make() -> tuple[Pool[Any], Tracker]:
        tracker = Tracker()
        return build(request.param, tracker), tracker

    return make


def in_greenthread(body: Callable[[], Any]) -> Any:
    """Run ``body`` in a greenthread of its own and return its result (a
    GreenthreadLocalPool ties items to the greenthread that got them)."""
    return eventlet.spawn(body).wait()


def finish(pool: Pool[Any], tracker: Tracker) -> None:
    """Close the pool, let ended greenthreads hand back, check nothing is left."""
    pool.close()
    for _ in range(3):
        eventlet.sleep(0)
    assert tracker.alive == 0, (pool, tracker.created, tracker.disposed)


# ----------------------------------------------------------------------
# the contract


def test_get_returns_a_created_item_and_put_takes_it_back(make_any: MakeAny) -> None:
    pool, tracker = make_any()

    def body() -> None:
        item = pool.get()
        assert any(item is made for made in tracker.created)
        pool.put(item)
        again = pool.get(block=False)  # nothing is held: no waiting needed
        pool.put(again)

    in_greenthread(body)
    assert pool.stats().gets == 2
    finish(pool, tracker)


def test_item_block_gives_back_on_exception_and_kill(make_any: MakeAny) -> None:
    pool, tracker = make_any()

    def raising() -> None:
        with pool.item():
            raise KeyError("boom")

    with pytest.raises(KeyError):
        in_greenthread(raising)
    inside = Event()

    def holder() -> None:
        with pool.item():
            inside.send()
            eventlet.sleep(10)

    gt = eventlet.spawn(holder)
    inside.wait()
    gt.kill()

    def after() -> None:
        with pool.item() as item:  # would raise or wait if one were lost
            assert item is not None

    with eventlet.Timeout(5):
        in_greenthread(after)
    finish(pool, tracker)


def test_put_of_a_stranger_raises_and_changes_nothing(make_any: MakeAny) -> None:
    # Pool and TokenPool, drop-ins for eventlet's, dispose a stray put with
    # nothing checked out (a placeholder); the variants refuse it.
    pool, tracker = make_any()
    stranger = object()
    tracker.strays.append(stranger)

    def body() -> None:
        if isinstance(pool, (NullPool, StaticPool, GreenthreadLocalPool, AssertionPool)):
            with pytest.raises(PoolError):
                pool.put(stranger)
        else:
            pool.put(stranger)
            assert tracker.disposed_strays == [stranger]
        with pool.item():
            pass

    in_greenthread(body)
    assert tracker.alive <= 1
    finish(pool, tracker)


def test_discard_disposes_the_item_and_the_next_get_makes_another(make_any: MakeAny) -> None:
    pool, tracker = make_any()

    def body() -> None:
        first = pool.get()
        pool.discard(first)
        assert any(first is gone for gone in tracker.disposed)
        second = pool.get(block=False)
        assert second is not first
        pool.put(second)

    in_greenthread(body)
    assert pool.stats().disposed["discarded"] == 1
    finish(pool, tracker)


def test_create_failure_raises_and_loses_no_capacity(make_any: MakeAny) -> None:
    pool, tracker = make_any()
    tracker.fail_next = 1

    def body() -> None:
        with pytest.raises(CreateFailed):
            pool.get()
        with pool.item():  # block=True: would hang if the slot were lost
            pass

    with eventlet.Timeout(5):
        in_greenthread(body)
    assert pool.stats().create_errors == 1
    finish(pool, tracker)


def test_close_refuses_gets_and_disposes_what_comes_back(make_any: MakeAny) -> None:
    pool, tracker = make_any()
    got = Event()
    release = Event()

    def holder() -> None:
        item = pool.get()
        got.send()
        release.wait()
        pool.put(item)

    gt = eventlet.spawn(holder)
    got.wait()
    pool.close()
    with pytest.raises(PoolClosed):
        in_greenthread(pool.get)
    release.send()
    gt.wait()
    finish(pool, tracker)


def test_events_report_create_and_dispose(make_any: MakeAny) -> None:
    pool, tracker = make_any()
    seen: list[tuple[str, Any]] = []

    def record(event: PoolEvent) -> None:
        seen.append((event.name, event.item))

    pool.listen("create", record)
    pool.listen("dispose", record)

    def body() -> Any:
        item = pool.get()
        pool.discard(item)
        return item

    item = in_greenthread(body)
    assert [name for name, _ in seen] == ["create", "dispose"]
    assert all(got is item for _, got in seen)
    finish(pool, tracker)


def test_stats_are_json_and_status_names_the_class(make_any: MakeAny) -> None:
    pool, tracker = make_any()
    in_greenthread(lambda: pool.put(pool.get()))
    data = json.loads(json.dumps(pool.stats().as_dict()))
    assert data["gets"] == 1
    assert data["created"] == 1
    assert pool.status().startswith(type(pool).__name__)
    finish(pool, tracker)


# ----------------------------------------------------------------------
# NullPool


def test_null_pool_creates_per_get_and_disposes_per_put() -> None:
    tracker = Tracker()
    pool = NullPool(2, tracker.make, dispose=tracker.dispose)
    first = pool.get()
    pool.put(first)
    assert tracker.disposed == [first]
    second = pool.get()
    assert second is not first
    assert not pool.free_items
    pool.put(second)
    assert pool.stats().disposed["unpooled"] == 2
    assert tracker.alive == 0


def test_null_pool_limits_concurrency_and_serves_waiters_in_order() -> None:
    tracker = Tracker()
    pool = NullPool(2, tracker.make, dispose=tracker.dispose)
    held = [pool.get(), pool.get()]
    order: list[int] = []

    def waiter(n: int) -> None:
        item = pool.get()
        order.append(n)
        assert tracker.alive <= 2
        pool.put(item)

    gts = [eventlet.spawn(waiter, n) for n in range(5)]
    eventlet.sleep(0)
    assert pool.waiting() == 5
    for item in held:
        pool.put(item)
    for gt in gts:
        gt.wait()
    assert order == list(range(5))
    assert tracker.max_alive == 2
    assert tracker.alive == 0
    assert pool.current_size == 0


@pytest.mark.parametrize("option", ["min_size", "max_age", "order_as_stack"])
def test_null_pool_refuses_pooling_options(option: str) -> None:
    options: dict[str, Any] = {option: 1}
    with pytest.raises(TypeError, match=option):
        NullPool(2, object, **options)


# ----------------------------------------------------------------------
# StaticPool


def test_static_pool_shares_one_item_without_limit() -> None:
    tracker = Tracker(switch_in_create=True)  # create() switches: others arrive meanwhile
    pool = StaticPool(tracker.make, dispose=tracker.dispose)
    got = [eventlet.spawn(pool.get) for _ in range(50)]
    items = [gt.wait() for gt in got]
    assert len(tracker.created) == 1
    assert all(item is items[0] for item in items)
    for item in items:
        pool.put(item)
    with pytest.raises(PoolError):
        pool.put(items[0])  # one put too many
    pool.close()
    assert tracker.disposed == [items[0]]


def test_static_pool_failed_create_passes_to_the_next_waiter() -> None:
    tracker = Tracker(switch_in_create=True)
    tracker.fail_next = 1
    pool = StaticPool(tracker.make, dispose=tracker.dispose)
    first = eventlet.spawn(pool.get)
    second = eventlet.spawn(pool.get)
    with pytest.raises(CreateFailed):
        first.wait()
    with eventlet.Timeout(5):
        item = second.wait()
    assert tracker.created == [item]
    pool.put(item)
    pool.close()
    assert tracker.alive == 0


def test_static_pool_waiter_times_out_while_the_item_is_made() -> None:
    tracker = Tracker()
    tracker.gate = Event()
    pool = StaticPool(tracker.make, dispose=tracker.dispose)
    maker = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    with pytest.raises(PoolTimeout):
        pool.get(block=False)
    with pytest.raises(PoolTimeout):
        pool.get(timeout=0.01)
    tracker.gate.send()
    item = maker.wait()
    assert pool.get(block=False) is item
    pool.put(item)
    pool.put(item)
    pool.close()
    assert tracker.alive == 0


def test_static_pool_discard_replaces_the_item_and_close_waits_for_holders() -> None:
    tracker = Tracker()
    pool = StaticPool(tracker.make, dispose=tracker.dispose)
    old = pool.get()
    other_holder = pool.get()
    pool.discard(old)
    assert tracker.disposed == [old]
    new = pool.get()
    assert new is not old
    pool.put(other_holder)  # the old item's last holder may still give it back
    pool.close()
    assert tracker.disposed == [old]  # new is still held
    pool.put(new)
    assert tracker.disposed == [old, new]
    with pytest.raises(ValueError, match="max_size"):
        pool.resize(2)


# ----------------------------------------------------------------------
# GreenthreadLocalPool


def test_greenthread_local_same_item_per_greenthread() -> None:
    tracker = Tracker()
    pool = GreenthreadLocalPool(3, tracker.make, dispose=tracker.dispose)

    def twice() -> Any:
        first = pool.get()
        assert pool.get() is first
        pool.put(first)
        pool.put(first)
        with pytest.raises(PoolError):
            pool.put(first)
        return first

    a = eventlet.spawn(twice).wait()
    b = eventlet.spawn(twice).wait()
    assert a is not b
    # Each was disposed as its greenthread ended.
    assert tracker.disposed == [a, b]
    assert pool.stats().disposed["ended"] == 2
    assert pool.current_size == 0


@pytest.mark.parametrize("how", ["spawn", "spawn_n", "killed", "raw greenlet"])
def test_greenthread_local_item_goes_when_its_greenthread_ends(how: str) -> None:
    tracker = Tracker()
    pool = GreenthreadLocalPool(1, tracker.make, dispose=tracker.dispose)
    got = Event()
    blocker = Event()

    def user() -> None:
        pool.get()
        got.send()
        if how == "killed":
            blocker.wait()

    if how == "spawn_n":
        eventlet.spawn_n(user)
    elif how == "raw greenlet":
        greenlet(user).switch()
    else:
        gt = eventlet.spawn(user)
    got.wait()
    if how == "killed":
        gt.kill()

    def next_user() -> Any:
        return pool.get()  # waits until the first one's slot is free

    with eventlet.Timeout(5):
        eventlet.spawn(next_user).wait()
    assert len(tracker.disposed) == 2
    assert_invariants(pool, tracker)


def test_greenthread_local_full_pool_takes_back_from_ended_greenlets_still_referenced() -> None:
    tracker = Tracker()
    pool = GreenthreadLocalPool(1, tracker.make, dispose=tracker.dispose)
    kept = greenlet(pool.get)
    kept.switch()  # ends at once, but `kept` keeps it from being collected
    assert kept.dead
    assert pool.current_size == 1
    with eventlet.Timeout(5):
        item = pool.get()  # the sweep frees the dead greenlet's slot
    assert tracker.disposed == [tracker.created[0]]
    pool.release()
    assert list(pool.free_items) == [item]  # released for reuse, not disposed
    pool.close()
    assert tracker.alive == 0


def test_greenthread_local_storm_keeps_max_size_and_loses_nothing() -> None:
    tracker = Tracker(switch_in_create=True)
    pool = GreenthreadLocalPool(5, tracker.make, dispose=tracker.dispose)
    rng = random.Random(7)
    tracker.fail_probability = 0.05

    def worker() -> None:
        try:
            item = pool.get(timeout=rng.choice([None, 0.001]))
        except (CreateFailed, PoolTimeout):
            return
        assert pool.get() is item
        for _ in range(rng.randrange(3)):
            eventlet.sleep(0)
        assert tracker.alive <= 5
        if rng.random() < 0.1:
            pool.discard(item)
        elif rng.random() < 0.1:
            pool.release()

    gts = [eventlet.spawn(worker) for _ in range(1000)]
    for gt in gts[::10]:
        gt.kill()
    for gt in gts:
        with contextlib.suppress(GreenletExit):
            gt.wait()
        assert_invariants(pool, tracker)
    eventlet.sleep(0)
    assert tracker.max_alive <= 5
    assert pool.waiting() == 0
    assert pool.current_size == len(pool.free_items)
    pool.close()
    assert tracker.alive == 0


# ----------------------------------------------------------------------
# AssertionPool


def first_checkout(pool: AssertionPool[Any]) -> Any:
    return pool.get()


def test_assertion_pool_names_where_the_first_checkout_was() -> None:
    tracker = Tracker()
    pool = AssertionPool(tracker.make, dispose=tracker.dispose)
    item = first_checkout(pool)
    with pytest.raises(AssertionError, match="first_checkout"):
        pool.get()
    pool.put(item)
    assert pool.get() is item  # kept between checkouts
    pool.put(item)
    quiet = AssertionPool(object, store_stack=False)
    quiet.get()
    with pytest.raises(AssertionError, match="store_stack=False"):
        quiet.get()


def test_assertion_pool_refuses_a_get_while_the_item_is_created() -> None:
    tracker = Tracker()
    tracker.gate = Event()
    pool = AssertionPool(tracker.make, dispose=tracker.dispose)
    maker = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    with pytest.raises(AssertionError, match="already checked out"):
        pool.get()
    tracker.gate.send()
    pool.put(maker.wait())
    with pytest.raises(ValueError, match="max_size is always 1"):
        pool.resize(3)
    with pytest.raises(TypeError, match="store_stack"):
        AssertionPool(object, store_stack="yes")  # type: ignore[arg-type]


# ----------------------------------------------------------------------
# GreenthreadLocalPool under random interleavings (hypothesis)


class User:
    """A greenthread that checks an item out of a GreenthreadLocalPool and
    does what the test tells it to, one command at a time."""

    def __init__(self, pool: GreenthreadLocalPool[Any]) -> None:
        self.pool = pool
        self.commands: eventlet.queue.Queue[str] = eventlet.queue.Queue()
        self.item: Any = None
        self.gt = eventlet.spawn(self._run)

    def _run(self) -> None:
        while True:
            command = self.commands.get()
            if command == "end":
                return
            if command == "get":
                item = self.pool.get()
                assert self.item is None or item is self.item  # the same, every time
                self.item = item
            elif command == "release" and self.item is not None:
                self.pool.release()
                self.item = None
            elif command == "discard" and self.item is not None:
                self.pool.discard(self.item)
                self.item = None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["get", "release", "discard", "end", "kill"]))))
def test_greenthread_local_pool_random_interleavings(steps: list[tuple[int, str]]) -> None:
    tracker = Tracker(switch_in_create=True)
    pool = GreenthreadLocalPool(3, tracker.make, dispose=tracker.dispose)
    users: dict[int, User] = {}
    with eventlet.Timeout(10):
        for who, command in steps:
            user = users.get(who)
            if user is None or user.gt.dead:
                user = users[who] = User(pool)
            if command == "kill":
                user.gt.kill()
            else:
                user.commands.put(command)
            for _ in range(3):
                eventlet.sleep(0)
            assert tracker.alive <= 3
            assert_invariants(pool, tracker)
        for user in users.values():
            user.commands.put("end")
        for user in users.values():
            with contextlib.suppress(GreenletExit):
                user.gt.wait()
    eventlet.sleep(0)
    assert pool.waiting() == 0
    assert pool.current_size == len(pool.free_items)  # every holder ended
    pool.close()
    assert tracker.alive == 0
