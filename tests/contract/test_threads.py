"""Pool with backend='threads': the same guarantees for native OS threads.

FIFO handoff, timeouts, no capacity lost to failed creates, resize and close
waking waiters, create() running without the lock, the lifecycle options
with their maintenance thread, and fault storms of 64 threads checked
against the DESIGN.md invariants (read under the pool's lock)."""

from __future__ import annotations

import random
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from eventlet_pools import (
    AssertionPool,
    ConnectionPool,
    GreenthreadLocalPool,
    NullPool,
    Pool,
    PoolTimeout,
    StaticPool,
)
from tests.conftest import CreateFailed, LockedTracker, Tracker, check_pool


def threads_pool(tracker: Tracker, **kwargs: Any) -> Pool[Any]:
    return Pool(create=tracker.make, dispose=tracker.dispose, backend="threads", **kwargs)


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def start(target: Callable[..., Any], *args: Any) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_backend_is_chosen_and_checked() -> None:
    assert Pool(backend="threads").backend == "threads"
    assert Pool(backend="eventlet").backend == "eventlet"
    # This process imported eventlet, so 'auto' stays green.
    assert Pool().backend == "eventlet"
    with pytest.raises(ValueError, match="backend"):
        Pool(backend="fibers")


def test_fifty_threads_are_served_in_arrival_order() -> None:
    tracker = LockedTracker()
    pool = threads_pool(tracker, max_size=1)
    held = pool.get()
    order: list[int] = []

    def waiter(n: int) -> None:
        with pool.item(timeout=30):
            order.append(n)

    def waiting(count: int) -> Callable[[], bool]:
        return lambda: pool.waiting() == count

    threads = []
    for n in range(50):
        threads.append(start(waiter, n))
        wait_until(waiting(n + 1))  # in line before the next arrives
    pool.put(held)
    for thread in threads:
        thread.join(30)
    assert order == list(range(50))
    check_pool(pool, tracker, settled=True)


def test_timeouts_and_nonblocking_gets() -> None:
    tracker = LockedTracker()
    pool = threads_pool(tracker, max_size=1)
    held = pool.get()
    with pytest.raises(PoolTimeout):
        pool.get(block=False)
    started = time.monotonic()
    with pytest.raises(PoolTimeout):
        pool.get(timeout=0.05)
    assert time.monotonic() - started >= 0.05
    assert pool.waiting() == 0
    pool.put(held)
    pool.put(held)  # put twice: the second put() is ignored, with a warning
    assert list(pool._free) == [held]
    assert not tracker.disposed
    check_pool(pool, tracker, settled=True)


def test_create_runs_without_the_lock() -> None:
    tracker = LockedTracker()
    tracker.block = threading.Event()
    pool = threads_pool(tracker, max_size=2)
    creating = start(pool.get)
    wait_until(lambda: pool._creating == 1)
    # create() is blocked, yet the pool answers other threads at once.
    assert pool.free() == 1
    assert pool.stats().creating == 1
    tracker.block.set()
    creating.join(10)
    check_pool(pool, tracker)


@pytest.mark.parametrize("lifecycle", [False, True], ids=["plain", "lifecycle"])
def test_fault_storm_of_sixty_four_threads(lifecycle: bool) -> None:
    tracker = LockedTracker()
    tracker.fail_probability = 0.05
    rng_lock = threading.Lock()
    rng = random.Random(11)
    options: dict[str, Any] = {}
    if lifecycle:

        def flaky(item: Any) -> bool:
            with rng_lock:
                return rng.random() > 0.05

        def reset(item: Any) -> None:
            with rng_lock:
                if rng.random() < 0.05:
                    raise RuntimeError("reset failed")

        options = {"max_uses": 5, "check": flaky, "reset": reset, "max_idle": 0.01, "max_age": 0.2}
    pool = threads_pool(tracker, max_size=4, **options)
    stop = threading.Event()
    failures: list[BaseException] = []

    def worker(seed: int) -> None:
        local = random.Random(seed)
        try:
            for _ in range(200):
                try:
                    item = pool.get(timeout=local.choice([None, 0.001, 0.01]))
                except (PoolTimeout, CreateFailed):
                    continue
                if local.random() < 0.5:
                    time.sleep(0)
                if local.random() < 0.1:
                    pool.discard(item)
                else:
                    pool.put(item)
        except BaseException as exc:  # reported below, with the thread's seed
            failures.append(exc)

    def resizer() -> None:
        local = random.Random(99)
        try:
            while not stop.is_set():
                pool.resize(local.randrange(2, 8))
                check_pool(pool, tracker if not lifecycle else None)
                time.sleep(0.001)
        except BaseException as exc:  # an invariant broken: fail the test
            failures.append(exc)
        finally:
            pool.resize(4)

    # Switch threads every microsecond instead of every 5 ms, so that any
    # check-then-act outside the lock gets interleaved.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [start(worker, seed) for seed in range(64)]
        chaos = start(resizer)
        for thread in workers:
            thread.join(120)
        stop.set()
        chaos.join(10)
    finally:
        sys.setswitchinterval(interval)
    assert failures == []
    assert tracker.max_alive <= 8 + 1  # the largest size the resizer set (+1 mid-shrink)
    wait_until(lambda: pool._retry_due is None and pool._creating == 0, 5)
    check_pool(pool, tracker if not lifecycle else None, settled=True)
    pool.close()
    assert tracker.alive == 0


def test_connection_pool_on_threads(tmp_path: Path) -> None:
    path = tmp_path / "threads.sqlite"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (n INTEGER)")
    pool = ConnectionPool(
        lambda: sqlite3.connect(path, check_same_thread=False, timeout=30), max_size=3, backend="threads"
    )

    def worker(n: int) -> None:
        for _ in range(20):
            with pool.connection() as conn:
                conn.execute("INSERT INTO t VALUES (?)", (n,))
                conn.commit()

    threads = [start(worker, n) for n in range(8)]
    for thread in threads:
        thread.join(60)
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (160,)
    stats = pool.stats()
    assert stats.created <= 3
    assert stats.checked_out == 0
    pool.close()


def test_null_pool_on_threads_limits_concurrency() -> None:
    tracker = LockedTracker()
    pool = NullPool(3, tracker.make, dispose=tracker.dispose, backend="threads")
    inside = 0
    most = 0
    count_lock = threading.Lock()

    def worker() -> None:
        nonlocal inside, most
        for _ in range(50):
            with pool.item(timeout=30):
                with count_lock:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0)
                with count_lock:
                    inside -= 1

    threads = [start(worker) for _ in range(16)]
    for thread in threads:
        thread.join(60)
    assert most <= 3
    assert tracker.max_alive <= 3
    assert tracker.alive == 0
    assert len(tracker.created) == 16 * 50  # a new item every time
    check_pool(pool, tracker, settled=True)


def test_the_greenthread_variants_stay_green() -> None:
    for pool in (StaticPool(object), GreenthreadLocalPool(2, object), AssertionPool(object)):
        assert pool.backend == "eventlet"


@pytest.mark.parametrize("hook", ["check", "reset"])
def test_check_and_reset_run_without_the_pool_lock(hook: str) -> None:
    # A check or reset is often a round trip to a server: while one thread
    # is inside it, the others go on getting and returning items.
    tracker = LockedTracker()
    armed, inside, release = threading.Event(), threading.Event(), threading.Event()

    def slow(item: Any) -> bool:
        if armed.is_set():  # only the first call once armed blocks
            armed.clear()
            inside.set()
            assert release.wait(10)
        return True

    pool = threads_pool(tracker, max_size=2, **{hook: slow})
    first, second = pool.get(), pool.get()
    pool.put(first)
    pool.put(second)
    armed.set()
    if hook == "check":
        worker = start(pool.get)  # checks the first free item...
    else:
        taken = pool.get()
        worker = start(pool.put, taken)  # ...or resets the item it returns
    assert inside.wait(10)
    other = pool.get(timeout=5)  # the lock is free: served at once
    assert other is second  # free items go round: the first is the one held up
    release.set()
    worker.join(10)
    assert not worker.is_alive()
    pool.put(other)
    if hook == "check":
        pool.put(first)
    assert pool.current_size == 2
    assert len(pool.free_items) == 2


def test_a_thread_handed_an_item_returns_without_taking_the_pool_lock() -> None:
    # The granter did the bookkeeping: the woken thread does not wait for
    # the lock to finish its get(), even while another thread holds it.
    tracker = LockedTracker()
    pool = threads_pool(tracker, max_size=1)
    held = pool.get()
    got: list[Any] = []
    done = threading.Event()

    def waiter() -> None:
        got.append(pool.get(timeout=30))
        done.set()

    thread = start(waiter)
    wait_until(lambda: pool.waiting() == 1)
    assert pool._lock is not None
    with pool._lock:
        pool.put(held)  # handed to the waiter...
        assert done.wait(10)  # ...which returns while we still hold the lock
    assert got == [held]
    thread.join(10)
    pool.put(held)
    check_pool(pool, tracker, settled=True)
