"""Events fire exactly when they should; listeners cannot hurt the pool;
stats and status report what happened."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
from typing import Any

import eventlet
import pytest

from eventlet_pools import EVENT_NAMES, Pool, PoolEvent, PoolStats, PoolTimeout
from tests.conftest import CreateFailed, FakeClock, Item, Tracker, assert_settled


def make(tracker: Tracker, **options: Any) -> Pool[Item]:
    options.setdefault("max_size", 2)
    return Pool(create=tracker.make, dispose=tracker.dispose, **options)


def log_all(pool: Pool[Any]) -> list[tuple[str, Any, Any]]:
    seen: list[tuple[str, Any, Any]] = []
    for name in EVENT_NAMES:
        pool.listen(name, lambda e: seen.append((e.name, e.item, e.reason)))
    return seen


@pytest.mark.parametrize("options", [{}, {"max_uses": 100}], ids=["plain", "managed"])
def test_each_event_fires_once_in_order(options: dict[str, Any]) -> None:
    tracker = Tracker()
    pool = make(tracker, **options)
    seen = log_all(pool)
    a = pool.get()
    assert seen == [("create", a, None), ("checkout", a, None)]
    seen.clear()
    pool.put(a)
    assert seen == [("checkin", a, None)]
    seen.clear()
    b = pool.get()
    assert b is a
    pool.discard(b)
    assert seen == [("checkout", a, None), ("dispose", a, "discarded")]
    seen.clear()
    tracker.fail_next = 1
    with pytest.raises(CreateFailed):
        pool.get()
    assert seen == [("create_failed", None, None)]
    seen.clear()
    c = pool.get()
    pool.put(c)
    pool.close()
    assert seen == [
        ("create", c, None),
        ("checkout", c, None),
        ("checkin", c, None),
        ("dispose", c, "closed"),
    ]


def test_shrink_and_overflow_dispose_reasons() -> None:
    tracker = Tracker()
    pool = make(tracker, max_size=2, max_overflow=1)
    seen = log_all(pool)
    held = [pool.get() for _ in range(3)]
    seen.clear()
    pool.put(held[0])
    assert seen[-1] == ("dispose", held[0], "overflow")
    pool.put(held[1])
    pool.resize(0)
    assert seen[-1] == ("dispose", held[1], "shrink")
    pool.put(held[2])  # above the new max_size but within its overflow
    assert seen[-1] == ("dispose", held[2], "overflow")
    pool.resize(2)
    a, b = pool.get(), pool.get()
    pool.resize(0)
    pool.put(a)  # above max_size + max_overflow
    assert seen[-1] == ("dispose", a, "shrink")
    pool.put(b)
    assert seen[-1] == ("dispose", b, "overflow")


def test_create_failed_event_carries_the_error() -> None:
    tracker = Tracker()
    pool = make(tracker)
    errors: list[PoolEvent] = []
    pool.listen("create_failed", errors.append)
    tracker.fail_next = 1
    with pytest.raises(CreateFailed) as raised:
        pool.get()
    assert errors[0].error is raised.value
    assert errors[0].pool is pool


@pytest.mark.parametrize("name", EVENT_NAMES)
def test_raising_listener_is_logged_and_loses_nothing(name: str, caplog: pytest.LogCaptureFixture) -> None:
    tracker = Tracker()
    pool = make(tracker, max_size=1)

    def bad(event: PoolEvent) -> None:
        raise RuntimeError(f"listener for {event.name} broke")

    pool.listen(name, bad)
    with caplog.at_level(logging.ERROR, logger="eventlet_pools"):
        obj = pool.get()
        pool.put(obj)
        pool.discard(pool.get())
        tracker.fail_next = 1
        with pytest.raises(CreateFailed):
            pool.get()
        pool.put(pool.get())
    if name != "leak":
        assert f"listener for {name} broke" in caplog.text
    assert_settled(pool, tracker)


@pytest.mark.parametrize("name", ["create", "checkout", "checkin"])
def test_listener_interrupted_mid_event_gives_the_item_back(name: str) -> None:
    tracker = Tracker()
    pool = make(tracker, max_size=1)
    pool.put(pool.get())  # one free item, so checkout/checkin have one to move

    def switching(event: PoolEvent) -> None:
        eventlet.sleep(0)
        eventlet.sleep(0)

    pool.listen(name, switching)
    if name == "create":
        pool.discard(pool.get())

    def use() -> None:
        pool.put(pool.get())

    user = eventlet.spawn(use)
    eventlet.sleep(0)
    user.kill()  # lands while the listener switches
    assert pool.waiting() == 0
    assert_settled(pool, tracker)
    held = pool.get(block=False)  # and the capacity is there
    pool.put(held)


def on_slow_path(pool: Pool[Any]) -> bool:
    """Whether get/put go through the lifecycle (managed) path."""
    return pool._managed


def test_listen_and_unlisten_validate_and_toggle() -> None:
    pool = make(Tracker())
    with pytest.raises(ValueError, match="event must be one of"):
        pool.listen("checkouts", print)
    with pytest.raises(TypeError, match="must be callable"):
        pool.listen("checkout", "print")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not listening"):
        pool.unlisten("checkout", print)
    seen: list[PoolEvent] = []
    pool.listen("checkout", seen.append)
    pool.listen("checkout", seen.append)  # idempotent
    assert on_slow_path(pool)
    pool.put(pool.get())
    assert len(seen) == 1
    pool.unlisten("checkout", seen.append)
    assert not on_slow_path(pool)  # back on the fast path
    pool.put(pool.get())
    assert len(seen) == 1


def test_items_checked_out_before_a_listener_came_can_still_be_returned() -> None:
    tracker = Tracker()
    pool = make(tracker)
    early = pool.get()
    seen: list[PoolEvent] = []
    pool.listen("checkin", seen.append)
    pool.put(early)
    assert [e.item for e in seen] == [early]
    assert_settled(pool, tracker)


# ---------------------------------------------------------------- stats
def test_stats_count_what_happened(clock: FakeClock) -> None:
    tracker = Tracker()
    pool = make(tracker, max_size=1, timeout=5, clock=clock)
    obj = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    clock.advance(0.25)
    pool.put(obj)
    assert waiter.wait() is obj
    with pytest.raises(PoolTimeout):
        pool.get(block=False)
    pool.discard(obj)
    tracker.fail_next = 1
    with pytest.raises(CreateFailed):
        pool.get()
    stats = pool.stats()
    assert (stats.gets, stats.waits, stats.timeouts) == (4, 1, 1)
    assert (stats.created, stats.create_errors) == (1, 1)
    assert stats.disposed["discarded"] == 1
    assert sum(stats.disposed.values()) == 1
    assert stats.wait_p50 == stats.wait_p99 == stats.wait_max == pytest.approx(0.25, abs=1e-6)
    assert (stats.size, stats.free, stats.checked_out, stats.waiting) == (0, 1, 0, 0)
    assert stats.config.max_size == 1
    assert stats.config.timeout == 5


def test_stats_is_frozen_and_json_ready() -> None:
    pool = make(Tracker(), max_age=30, check=bool)
    pool.put(pool.get())
    stats = pool.stats()
    assert isinstance(stats, PoolStats)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.gets = 0  # type: ignore[misc]
    data = json.loads(json.dumps(stats.as_dict()))
    assert data["gets"] == 1
    assert data["config"]["max_age"] == 30
    assert data["config"]["check"] is True
    assert data["wait_p50"] is None
    pool.put(pool.get())
    assert stats.gets == 1  # a snapshot does not move


def test_wait_percentiles_over_many_waits(clock: FakeClock) -> None:
    pool = make(Tracker(), max_size=1, clock=clock)
    held = pool.get()
    for wait_ms in range(1, 101):
        waiter = eventlet.spawn(pool.get)
        eventlet.sleep(0)
        clock.advance(wait_ms / 1000)
        pool.put(held)
        held = waiter.wait()
    stats = pool.stats()
    assert stats.wait_p50 == pytest.approx(0.050, abs=1e-5)
    assert stats.wait_p99 == pytest.approx(0.099, abs=1e-5)
    assert stats.wait_max == pytest.approx(0.100, abs=1e-5)
    assert "p50=50.0ms" in pool.status()


def test_status_is_one_line_with_the_numbers() -> None:
    pool = make(Tracker(), max_size=3, max_overflow=2)
    held = pool.get()
    line = pool.status()
    assert "\n" not in line
    assert "1/3 (+2 overflow) alive" in line
    assert "1 out" in line
    assert "gets=1" in line
    pool.put(held)
    pool.close()
    assert pool.status().startswith("Pool closed:")


# ---------------------------------------------------------------- the greenthread
def test_no_maintenance_greenthread_without_timed_options() -> None:
    pool = make(Tracker(), max_uses=3, check=bool, reset=lambda item: None)
    pool.put(pool.get())
    eventlet.sleep(0)
    assert pool._upkeep is None


def test_maintenance_greenthread_ends_on_close() -> None:
    pool = make(Tracker(), max_idle=60)
    pool.put(pool.get())
    upkeep = pool._upkeep
    assert upkeep is not None
    eventlet.sleep(0)
    assert not upkeep.thread.dead
    pool.close()
    eventlet.sleep(0)
    assert upkeep.thread.dead


def test_maintenance_greenthread_ends_when_the_pool_is_collected() -> None:
    pool = make(Tracker(), max_idle=60, health_check_interval=30, check=bool)
    pool.put(pool.get())
    upkeep = pool._upkeep
    assert upkeep is not None
    eventlet.sleep(0)  # started, now asleep until the next deadline
    thread = upkeep.thread
    assert not thread.dead
    del pool, upkeep
    gc.collect()
    eventlet.sleep(0)
    assert thread.dead


def test_events_carry_how_long_creating_waiting_and_holding_took(clock: FakeClock) -> None:
    def slow_create() -> Item:
        clock.now += 0.25  # create() takes a quarter of a second
        return Item(0)

    pool: Pool[Item] = Pool(max_size=1, create=slow_create, clock=clock)
    seen: dict[str, list[PoolEvent]] = {name: [] for name in ("create", "checkout", "checkin")}
    for name, events in seen.items():
        pool.listen(name, events.append)
    first = pool.get()
    (created,) = seen["create"]
    assert created.took == pytest.approx(0.25, abs=1e-6)
    assert seen["checkout"][0].waited == pytest.approx(0.25, abs=1e-6)  # the get() made it
    waiter = eventlet.spawn(pool.get, True, 10)
    while pool.waiting() != 1:
        eventlet.sleep(0)
    clock.advance(2.0)
    pool.put(first)  # held 2 s, then straight to the waiter
    second = waiter.wait()
    assert second is first
    assert seen["checkin"][0].held == pytest.approx(2.0, abs=1e-6)
    assert seen["checkout"][1].waited == pytest.approx(2.0, abs=1e-6)
    clock.advance(0.5)
    pool.put(second)
    assert seen["checkin"][1].held == pytest.approx(0.5, abs=1e-6)
    assert [event.took for event in seen["checkout"] + seen["checkin"]] == [None] * 4
    pool.close()


def test_timeouts_total_outlives_pop_stats() -> None:
    pool: Pool[object] = Pool(max_size=1, create=object)
    held = pool.get()
    for _ in range(3):
        with pytest.raises(PoolTimeout):
            pool.get(False)
    assert pool.pop_stats().timeouts == 3
    with pytest.raises(PoolTimeout):
        pool.get(timeout=0)
    assert (pool.stats().timeouts, pool.timeouts_total()) == (1, 4)
    pool.put(held)
