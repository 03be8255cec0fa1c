"""A fault storm on ConnectionPool: 1,000 greenthreads on real sqlite3
connections, with failing connects, kills, thrown timeouts, invalidations,
forgotten wrappers, SQL errors and connections that die under their holder.
The DESIGN.md invariants of the underlying Pool are checked as greenthreads
finish, and at the end nothing is lost and every connection is closed."""

from __future__ import annotations

import contextlib
import gc
import random
import sqlite3
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from greenlet import GreenletExit

from eventlet_pools import ConnectionClosed, ConnectionPool, PoolError
from tests.conftest import assert_invariants, assert_settled


class Tracked(sqlite3.Connection):
    """A sqlite3 connection that tells the storm when it is closed."""

    closed_count = 0

    def close(self) -> None:
        if not getattr(self, "_was_closed", False):
            self._was_closed = True
            Tracked.closed_count += 1
        super().close()


class ConnectFailed(RuntimeError):
    """Injected into connect()."""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_connection_pool_fault_storm(seed: int) -> None:
    rng = random.Random(seed)
    opened: list[Tracked] = []
    Tracked.closed_count = 0

    def connect() -> Tracked:
        if rng.random() < 0.05:
            raise ConnectFailed("injected")
        eventlet.sleep(0)  # connecting switches, as a network connect would
        conn = sqlite3.connect(":memory:", factory=Tracked, check_same_thread=False)
        assert isinstance(conn, Tracked)
        opened.append(conn)
        return conn

    def dead(exc: BaseException) -> bool:
        return isinstance(exc, (sqlite3.OperationalError, sqlite3.ProgrammingError))

    pool = ConnectionPool(connect, max_size=8, timeout=None, check_when_idle=0, is_disconnect=dead)
    inner = pool.pool
    outcomes: dict[str, int] = {}

    def note(what: str) -> None:
        outcomes[what] = outcomes.get(what, 0) + 1

    def worker() -> None:
        for _ in range(4):
            roll = rng.random()
            conn: Any = None
            try:
                with eventlet.Timeout(rng.choice([None, None, 0.0005]), False):
                    conn = pool.connect()
            except ConnectFailed:
                note("connect failed")
                continue
            if conn is None:
                note("timed out")
                continue
            if roll < 0.05:
                note("forgotten")
                del conn  # no close(): the wrapper returns it when collected
                continue
            try:
                if roll < 0.10:
                    conn.connection.close()  # it dies under its holder
                if roll < 0.15:
                    conn.execute("SELEC broken")
                cur = conn.cursor()
                cur.execute("SELECT 1")
                eventlet.sleep(0)
                assert cur.fetchone() == (1,)
                if roll > 0.95:
                    conn.invalidate()
                    note("invalidated")
                    with pytest.raises(ConnectionClosed):
                        conn.cursor()
                    continue
                note("ok")
            except (sqlite3.Error, PoolError):
                note("query failed")
            finally:
                conn.close()  # the with-less form: always give back (idempotent)

    with eventlet.Timeout(60):
        greenthreads = [eventlet.spawn(worker) for _ in range(1000)]
        for index, gt in enumerate(greenthreads):
            if index % 13 == 0:
                gt.kill()
            with contextlib.suppress(GreenletExit):
                gt.wait()
            assert_invariants(inner)
        for _ in range(5):  # forgotten wrappers come back from the collector
            gc.collect()
            eventlet.sleep(0)
    assert outcomes.get("ok", 0) > 500, outcomes
    assert outcomes.get("forgotten", 0) > 0
    assert outcomes.get("query failed", 0) > 0
    assert_settled(inner)
    assert pool.free() == 8
    # Every connection found dead was closed and replaced: whatever is free
    # still answers.
    for _ in range(8):
        with pool.connection(timeout=1) as conn:
            assert conn.execute("SELECT 2").fetchone() == (2,)
    pool.close()
    assert Tracked.closed_count == len(opened), (Tracked.closed_count, len(opened))
