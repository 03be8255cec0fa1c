"""The waiting primitive on its own: park, grant, fail, cancel."""

from __future__ import annotations

from typing import Any

import eventlet
import pytest
from eventlet import hubs

from eventlet_pools._waiters import EXPIRED, GreenWaiterQueue


def test_grant_serves_in_arrival_order_without_switching() -> None:
    queue = GreenWaiterQueue()
    got: list[tuple[int, Any]] = []
    threads = [eventlet.spawn(lambda i=i: got.append((i, queue.park(None, pytest.fail)))) for i in range(3)]
    eventlet.sleep(0)
    assert len(queue) == 3
    for value in "abc":
        assert queue.grant(value)
    assert got == []
    assert len(queue) == 0
    for thread in threads:
        thread.wait()
    assert got == [(0, "a"), (1, "b"), (2, "c")]
    assert not queue.grant("nobody")


def test_park_returns_expired_when_the_timeout_passes() -> None:
    queue = GreenWaiterQueue()
    assert queue.park(0.001, pytest.fail) is EXPIRED
    assert len(queue) == 0


def test_fail_all_raises_a_fresh_error_in_each_waiter() -> None:
    queue = GreenWaiterQueue()
    threads = [eventlet.spawn(queue.park, None, pytest.fail) for _ in range(2)]
    eventlet.sleep(0)
    assert queue.fail_all(lambda: KeyError("closed")) == 2
    errors = []
    for thread in threads:
        with pytest.raises(KeyError) as info:
            thread.wait()
        errors.append(info.value)
    assert errors[0] is not errors[1]


def test_interrupt_after_grant_calls_abandon_with_the_value() -> None:
    queue = GreenWaiterQueue()
    abandoned: list[Any] = []
    thread = eventlet.spawn(queue.park, None, abandoned.append)
    eventlet.sleep(0)
    hubs.get_hub().schedule_call_global(0, thread.throw, eventlet.Timeout(None))
    queue.grant("item")
    with pytest.raises(eventlet.Timeout):
        thread.wait()
    assert abandoned == ["item"]


def test_interrupt_while_waiting_leaves_the_queue() -> None:
    queue = GreenWaiterQueue()
    thread = eventlet.spawn(queue.park, None, pytest.fail)
    eventlet.sleep(0)
    thread.kill()
    assert len(queue) == 0
    assert not queue.grant("x")


def test_spurious_switch_does_not_wake_a_waiter() -> None:
    queue = GreenWaiterQueue()
    thread = eventlet.spawn(queue.park, None, pytest.fail)
    eventlet.sleep(0)
    hubs.get_hub().schedule_call_global(0, thread.switch)
    eventlet.sleep(0)
    assert not thread.dead
    assert len(queue) == 1
    queue.grant("late")
    assert thread.wait() == "late"
