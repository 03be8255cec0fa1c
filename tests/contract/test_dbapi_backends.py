"""ConnectionPool's contract on every backend (eventlet, gevent, threads,
asyncio), on sqlite3 connections: rollback on return, checks, invalidation,
timeouts, stopped waiters, close, and a storm of holders with failing
queries, ending with every connection accounted for. (On the real servers:
tests/integration; async drivers: test_dbapi_async.py.)"""

from __future__ import annotations

import random
import sqlite3
import threading
from typing import Any

import pytest

from eventlet_pools import ConnectionPool, PoolClosed, PoolTimeout
from tests.conftest import BACKENDS, Runner, wait_all


class Connections:
    """Opens sqlite3 connections (usable from any thread), and counts them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.opened: list[sqlite3.Connection] = []

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.execute("CREATE TABLE t (x)")  # (outside a transaction: it stays)
        with self._lock:
            self.opened.append(conn)
        return conn

    def open(self) -> int:
        """How many it opened are still open."""
        alive = 0
        for conn in self.opened:
            try:
                conn.execute("SELECT 1")
            except sqlite3.ProgrammingError:  # closed
                continue
            alive += 1
        return alive


@pytest.fixture(params=BACKENDS)
def runner(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


def rows(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])


def test_rollback_on_return_invalidate_and_close(runner: Runner) -> None:
    def body() -> None:
        made = Connections()
        pool = ConnectionPool(made.connect, max_size=2, timeout=10, backend=runner.backend)
        assert pool.backend == runner.backend
        with pool.connection() as conn:
            conn.execute("INSERT INTO t VALUES (1)")  # never committed
            first = conn.connection
        with pool.connection() as conn:
            assert conn.connection is first  # the same connection, rolled back
            assert rows(conn) == 0
            conn.execute("INSERT INTO t VALUES (2)")
            conn.commit()
        conn = pool.connect()
        assert rows(conn) == 1
        conn.invalidate()  # closed, its slot back
        assert (pool.free(), made.open()) == (2, 0)
        with pool.connection() as conn:
            assert conn.connection is not first
            assert rows(conn) == 0
        pool.close()
        assert made.open() == 0
        with pytest.raises(PoolClosed):
            pool.connect()

    runner.run(body)


def test_timeouts_and_stopped_waiters_lose_nothing(runner: Runner) -> None:
    def body() -> None:
        made = Connections()
        pool = ConnectionPool(made.connect, max_size=1, backend=runner.backend)
        held = pool.connect()
        with pytest.raises(PoolTimeout):
            pool.connect(timeout=0.01)
        assert pool.waiting() == 0
        if runner.can_stop:
            doomed = runner.spawn(pool.connect)
            runner.until(lambda: pool.waiting() == 1)
            doomed.stop()
            wait_all([doomed])
            assert pool.waiting() == 0
        waiter = runner.spawn(pool.connect, 10)
        runner.until(lambda: pool.waiting() == 1)
        underlying = held.connection
        held.close()  # back to the pool: handed to the waiter
        conn = waiter.wait()
        assert conn.connection is underlying
        conn.close()
        assert (pool.free(), pool.waiting(), len(made.opened)) == (1, 0, 1)
        pool.close()

    runner.run(body)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_storm_of_holders_with_failing_queries(runner: Runner, seed: int) -> None:
    rng = random.Random(seed)

    def body() -> None:
        made = Connections()
        pool = ConnectionPool(made.connect, max_size=3, timeout=30, backend=runner.backend)
        crowd = min(runner.crowd, 60)
        plans = [[rng.random() for _ in range(5)] for _ in range(crowd)]

        def worker(plan: list[float]) -> None:
            for roll in plan:
                try:
                    with pool.connection() as conn:
                        conn.execute("INSERT INTO t VALUES (1)")
                        if roll < 0.2:
                            conn.execute("SELECT * FROM missing")  # fails: rolled back
                        elif roll < 0.3:
                            conn.invalidate()
                            continue
                        runner.yield_()
                except sqlite3.OperationalError:
                    pass

        handles = [runner.spawn(worker, plan) for plan in plans]
        stopped = []
        if runner.can_stop:
            for _ in range(5):
                runner.yield_()
                victim = rng.choice(handles)
                victim.stop()
                stopped.append(victim)
        results = wait_all(handles)
        assert all(r is None or isinstance(r, BaseException) for r in results)
        runner.until(lambda: pool.waiting() == 0)
        assert pool.free() == 3
        assert pool.stats().checked_out == 0
        # Nothing committed, and no more open than the pool holds.
        conns = [pool.connect() for _ in range(3)]
        assert all(rows(conn) == 0 for conn in conns)
        assert made.open() <= 3
        for conn in conns:
            conn.close()
        pool.close()
        assert made.open() == 0

    runner.run(body)
