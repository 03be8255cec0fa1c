"""The waiting primitive for native threads and for asyncio (the latter
run, as an asyncio pool runs it, in a bridge greenlet): FIFO direct handoff,
timeouts, failing everyone, and a waiter interrupted after its grant passing
it on."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from eventlet_pools import PoolError
from eventlet_pools._waiters import EXPIRED, AsyncWaiterQueue, ThreadWaiterQueue, run_bridged


class Closed(Exception):
    """What fail_all wakes the waiters with."""


def wait_until(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


# ----------------------------------------------------------------------
# threads


def test_fifty_threads_are_served_in_arrival_order() -> None:
    lock = threading.RLock()
    queue = ThreadWaiterQueue(lock)
    got: dict[int, Any] = {}

    def waiter(n: int) -> None:
        with lock:
            got[n] = queue.park(None, lambda value: None)

    threads = []
    for n in range(50):
        thread = threading.Thread(target=waiter, args=(n,))
        thread.start()
        threads.append(thread)
        wait_until(lambda n=n: len(queue) == n + 1)  # in line before the next
    for value in range(50):
        with lock:
            assert queue.grant(value)
    for thread in threads:
        thread.join(10)
    assert got == {n: n for n in range(50)}  # the n-th to arrive got the n-th grant
    with lock:
        assert not queue.grant("nobody")


def test_thread_waiter_times_out_and_leaves_the_line() -> None:
    lock = threading.RLock()
    queue = ThreadWaiterQueue(lock)
    with lock:
        started = time.monotonic()
        assert queue.park(0.05, lambda value: None) is EXPIRED
        assert time.monotonic() - started >= 0.05
        assert len(queue) == 0


def test_thread_waiters_fail_together_and_front_goes_first() -> None:
    lock = threading.RLock()
    queue = ThreadWaiterQueue(lock)
    outcomes: list[Any] = []

    def waiter(front: bool) -> None:
        with lock:
            try:
                outcomes.append(queue.park(None, lambda value: None, front))
            except Closed as exc:
                outcomes.append(exc)

    late = threading.Thread(target=waiter, args=(False,))
    late.start()
    wait_until(lambda: len(queue) == 1)
    first = threading.Thread(target=waiter, args=(True,))
    first.start()
    wait_until(lambda: len(queue) == 2)
    with lock:
        queue.grant("to the front")
    first.join(10)
    assert outcomes == ["to the front"]
    with lock:
        assert queue.fail_all(lambda: Closed("closed")) == 1
    late.join(10)
    assert isinstance(outcomes[1], Closed)


def test_the_lock_is_free_while_a_thread_waits() -> None:
    lock = threading.RLock()
    queue = ThreadWaiterQueue(lock)
    result: list[Any] = []

    def waiter() -> None:
        with lock, lock:  # held twice: park must release it fully
            result.append(queue.park(10, lambda value: None))

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: len(queue) == 1)
    assert lock.acquire(timeout=1)  # would time out if park kept the lock
    queue.grant("ok")
    lock.release()
    thread.join(10)
    assert result == ["ok"]


# ----------------------------------------------------------------------
# asyncio


def test_a_thousand_tasks_are_served_in_arrival_order() -> None:
    async def main() -> list[Any]:
        queue = AsyncWaiterQueue()
        tasks = []
        for _ in range(1000):
            tasks.append(asyncio.create_task(run_bridged(queue.park, None, lambda value: None)))
            await asyncio.sleep(0)  # each task parks before the next is made
        assert len(queue) == 1000
        for value in range(1000):
            assert queue.grant(value)  # never yields
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == list(range(1000))


def test_task_cancelled_after_its_grant_passes_it_on() -> None:
    async def main() -> tuple[list[Any], Any]:
        queue = AsyncWaiterQueue()
        passed: list[Any] = []

        def abandon(value: Any) -> None:
            passed.append(value)
            queue.grant(value)  # to the next in line, as a pool would

        first = asyncio.create_task(run_bridged(queue.park, None, abandon))
        await asyncio.sleep(0)
        second = asyncio.create_task(run_bridged(queue.park, None, abandon))
        await asyncio.sleep(0)
        queue.grant("item")
        first.cancel()  # granted, but cancelled before it resumed
        with pytest.raises(asyncio.CancelledError):
            await first
        return passed, await second

    passed, second_got = asyncio.run(main())
    assert passed == ["item"]
    assert second_got == "item"


def test_task_times_out_and_cancelled_waiter_leaves_the_line() -> None:
    async def main() -> None:
        queue = AsyncWaiterQueue()
        assert await run_bridged(queue.park, 0.01, lambda value: None) is EXPIRED
        waiting = asyncio.create_task(run_bridged(queue.park, None, lambda value: None))
        await asyncio.sleep(0)
        assert len(queue) == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert len(queue) == 0
        failing = asyncio.create_task(run_bridged(queue.park, None, lambda value: None))
        await asyncio.sleep(0)
        assert queue.fail_all(lambda: Closed("closed")) == 1
        with pytest.raises(Closed):
            await failing

    asyncio.run(main())


def test_park_outside_a_bridge_is_refused_and_leaves_no_trace() -> None:
    async def main() -> None:
        queue = AsyncWaiterQueue()
        with pytest.raises(PoolError, match="aget"):
            queue.park(None, lambda value: None)
        assert len(queue) == 0

    asyncio.run(main())
