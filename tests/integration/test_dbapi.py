"""ConnectionPool, its wrappers and manage(), on sqlite3 (the embedded
default); tests/integration/test_dbapi_servers.py runs PostgreSQL and MariaDB."""

from __future__ import annotations

import gc
import logging
import sqlite3
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from eventlet_pools import ConnectionClosed, ConnectionPool, PoolTimeout, manage
from eventlet_pools.dbapi import PooledConnection, ping
from tests.conftest import FakeClock


class Opened:
    """A connect() callable that remembers every connection it opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conns: list[sqlite3.Connection] = []
        with sqlite3.connect(path) as setup:
            setup.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")

    def __call__(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path)
        self.conns.append(conn)
        return conn

    def count(self) -> int:
        with sqlite3.connect(self.path) as other:
            return int(other.execute("SELECT count(*) FROM t").fetchone()[0])


def is_closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


@pytest.fixture
def opened(tmp_path: Path) -> Opened:
    return Opened(tmp_path / "db.sqlite")


def test_wrapper_behaves_as_the_connection(opened: Opened) -> None:
    pool = ConnectionPool(opened, max_size=2)
    conn = pool.connect()
    conn.execute("INSERT INTO t VALUES (1)")  # sqlite3's own shortcut, forwarded
    cur = conn.cursor()
    cur.execute("SELECT x FROM t")
    assert list(cur) == [(1,)]
    assert cur.description[0][0] == "x"
    cur.arraysize = 7
    assert cur.raw.arraysize == 7
    conn.commit()
    assert conn.in_transaction is False  # a plain attribute, forwarded
    assert conn.connection is opened.conns[0]
    conn.close()
    assert opened.count() == 1
    pool.close()


def test_close_returns_the_connection_for_reuse(opened: Opened) -> None:
    pool = ConnectionPool(opened, max_size=1)
    first = pool.connect()
    raw = first.connection
    first.close()
    first.close()  # idempotent
    assert first.closed
    with pool.connection() as second:
        assert second.connection is raw
    assert len(opened.conns) == 1
    assert not is_closed(raw)
    pool.close()
    assert is_closed(raw)


def test_use_after_close_raises_connection_closed(opened: Opened) -> None:
    pool = ConnectionPool(opened, max_size=1)
    conn = pool.connect()
    cur = conn.cursor()
    execute = conn.execute  # looked up while open, called after close
    conn.close()
    for use in (
        lambda: conn.cursor(),
        lambda: conn.commit(),
        lambda: conn.total_changes,
        lambda: execute("SELECT 1"),
        lambda: cur.execute("SELECT 1"),
        lambda: cur.rowcount,
        lambda: conn.invalidate(),
    ):
        with pytest.raises(ConnectionClosed, match="closed"):
            use()
    with pytest.raises(ConnectionClosed):
        conn.isolation_level = None
    pool.close()


@pytest.mark.parametrize(("mode", "kept"), [("rollback", 0), ("commit", 1), (None, 0)])
def test_reset_on_return(opened: Opened, mode: Any, kept: int) -> None:
    pool = ConnectionPool(opened, max_size=1, reset_on_return=mode)
    with pool.connection() as conn:
        conn.execute("INSERT INTO t VALUES (1)")
    with pool.connection() as conn:
        in_transaction = conn.in_transaction
    # None leaves the transaction open on the connection: still uncommitted.
    assert in_transaction is (mode is None)
    assert opened.count() == kept
    pool.close()


def test_garbage_collected_wrapper_returns_its_connection_rolled_back(
    opened: Opened, caplog: pytest.LogCaptureFixture
) -> None:
    pool = ConnectionPool(opened, max_size=1, reset_on_return="commit")

    def forget() -> None:
        conn = pool.connect()
        conn.execute("INSERT INTO t VALUES (1)")
        # no close(): the wrapper dies with this frame

    with caplog.at_level(logging.WARNING, "eventlet_pools"):
        forget()
        gc.collect()
        with eventlet.Timeout(5):
            conn = pool.connect()  # would time out if the connection were lost
    assert "garbage collected without close()" in caplog.text
    assert conn.connection is opened.conns[0]
    assert opened.count() == 0  # rolled back, although reset_on_return commits
    conn.close()
    pool.close()


def test_invalidate_closes_the_connection_and_frees_its_slot(opened: Opened) -> None:
    pool = ConnectionPool(opened, max_size=1)
    conn = pool.connect()
    raw = conn.connection
    conn.invalidate()
    assert is_closed(raw)
    assert conn.closed
    with pool.connection(timeout=1) as fresh:
        assert fresh.connection is not raw
    assert pool.stats().disposed["discarded"] == 1
    pool.close()


def test_idle_connection_is_pinged_before_reuse(opened: Opened, clock: FakeClock) -> None:
    pings: list[Any] = []

    def counting_ping(conn: Any) -> bool:
        pings.append(conn)
        return bool(ping(conn))

    pool = ConnectionPool(opened, max_size=1, check=counting_ping, check_when_idle=3.0, clock=clock)
    pool.connect().close()
    hub = eventlet.hubs.get_hub()
    canceled = hub.timers_canceled
    pool.connect().close()  # returned a moment ago: no ping, and no timer for one
    assert pings == []
    assert hub.timers_canceled == canceled
    clock.advance(3.5)
    pool.connect().close()
    assert len(pings) == 1
    pool.close()


def test_connection_failing_its_ping_is_replaced_unnoticed(opened: Opened, clock: FakeClock) -> None:
    pool = ConnectionPool(opened, max_size=1, clock=clock)
    pool.connect().close()
    opened.conns[0].close()  # the "server" dropped it while idle
    clock.advance(10)
    with pool.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert len(opened.conns) == 2
    assert pool.stats().disposed["check_failed"] == 1
    pool.close()


def test_sql_error_does_not_cost_the_connection(opened: Opened) -> None:
    # sqlite3 raises OperationalError for a syntax error: the connection is
    # suspect, pinged on return, and kept because it still answers.
    pool = ConnectionPool(opened, max_size=1)
    conn = pool.connect()
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("SELEC 1")
    conn.close()
    with pool.connection() as again:
        assert again.connection is opened.conns[0]
    pool.close()


def test_dead_connection_is_dropped_on_return_and_others_are_rechecked(opened: Opened) -> None:
    pool = ConnectionPool(opened, max_size=2, check_when_idle=60, is_disconnect=lambda exc: True)
    a, b = pool.connect(), pool.connect()
    raw_a, raw_b = a.connection, b.connection
    b.close()  # b is free, recently used: normally not pinged for 60 s
    raw_a.close()  # the server went away
    raw_b.close()
    with pytest.raises(sqlite3.ProgrammingError):
        a.execute("SELECT 1")
    a.close()  # rolled back and pinged: dead, so dropped
    assert pool.stats().disposed["discarded"] == 1
    with pool.connection() as conn:  # b is rechecked, found dead, replaced
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert pool.stats().disposed["check_failed"] == 1
    assert pool.free() == 2
    pool.close()


def test_wrapper_kill_during_give_back_loses_nothing(opened: Opened) -> None:
    pool = ConnectionPool(opened, max_size=1, timeout=1)
    held = pool.connect()
    waiter = eventlet.spawn(pool.connect)
    eventlet.sleep(0)
    waiter.kill()
    held.close()
    with pool.connection() as conn:
        assert conn.connection is opened.conns[0]
    with pytest.raises(PoolTimeout), pool.connection():
        pool.connect(timeout=0.01)
    pool.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"reset_on_return": "flush"}, ValueError, "reset_on_return"),
        ({"check_when_idle": -1}, ValueError, "check_when_idle"),
        ({"check_when_idle": "soon"}, TypeError, "check_when_idle"),
        ({"check": 3}, TypeError, "check"),
        ({"is_disconnect": "yes"}, TypeError, "is_disconnect"),
        ({"create": object}, TypeError, "create"),
        ({"reset": object}, TypeError, "reset_on_return"),
        ({"max_size": -1}, ValueError, "max_size"),
        ({"max_idle": 0}, ValueError, "max_idle"),
        ({"colour": "red"}, TypeError, "colour"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ConnectionPool(lambda: sqlite3.connect(":memory:"), **kwargs)
    with pytest.raises(TypeError, match="connect"):
        ConnectionPool("sqlite3")  # type: ignore[arg-type]


# ----------------------------------------------------------------------
# manage()


def test_manage_draws_one_pool_per_argument_set(tmp_path: Path) -> None:
    db = manage(sqlite3, max_size=2)
    assert db.paramstyle == sqlite3.paramstyle
    assert db.OperationalError is sqlite3.OperationalError
    one, other = str(tmp_path / "one.sqlite"), str(tmp_path / "other.sqlite")
    with db.connect(one) as a:
        raw_a = a.connection
    with db.connect(one) as again:
        assert again.connection is raw_a
    with db.connect(other) as b:
        assert b.connection is not raw_a
    with db.connect(one, timeout=3) as c:  # other kwargs: another pool
        assert c.connection is not raw_a
    assert len(db.pools) == 3
    assert db.get_pool(one) is db.get_pool(one)
    db.dispose()
    assert db.pools == {}
    assert is_closed(raw_a)


def test_manage_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="max_size"):
        manage(sqlite3, max_size=-2)
    with pytest.raises(TypeError, match="connect"):
        manage(threading)
    db = manage("sqlite3")
    with pytest.raises(TypeError, match="hashable"):
        db.connect(":memory:", detect_types=[1])


def test_manage_makes_one_pool_per_key_across_threads(tmp_path: Path) -> None:
    db = manage(sqlite3, max_size=2)
    barrier = threading.Barrier(8)
    got: list[Any] = []

    def racer() -> None:
        barrier.wait()
        got.append(db.get_pool(str(tmp_path / "race.sqlite")))

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(got) == 8
    assert all(pool is got[0] for pool in got)
    assert len(db.pools) == 1
    db.dispose()


def test_pooled_connection_type_is_exported() -> None:
    pool = ConnectionPool(lambda: sqlite3.connect(":memory:"))
    with pool.connection() as conn:
        assert isinstance(conn, PooledConnection)
        assert "PooledConnection" in repr(conn)
    assert "closed" in repr(conn)
    pool.close()


def test_events_and_stats_are_the_underlying_pools(opened: Opened) -> None:
    pool = ConnectionPool(opened, max_size=2)
    seen: list[tuple[str, Any]] = []

    def record(event: Any) -> None:
        seen.append((event.name, event.item))

    pool.listen("create", record)
    pool.listen("dispose", record)
    with pool.connection() as conn:
        raw = conn.connection
    pool.unlisten("create", record)
    pool.close()
    assert seen == [("create", raw), ("dispose", raw)]
    stats = pool.stats()
    assert stats.created == 1
    assert stats.disposed["closed"] == 1
    assert "closed" in pool.status()


class SlowRollback:
    """A sqlite3 connection whose rollback() waits on the network (switches)."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.closed = False

    def cursor(self) -> sqlite3.Cursor:
        return self.conn.cursor()

    def rollback(self) -> None:
        eventlet.sleep(1)
        self.conn.rollback()

    def close(self) -> None:
        self.closed = True
        self.conn.close()


@pytest.mark.parametrize("suspect", [False, True], ids=["plain", "suspect"])
def test_close_interrupted_during_rollback_loses_no_slot(suspect: bool) -> None:
    made: list[SlowRollback] = []

    def connect() -> SlowRollback:
        made.append(SlowRollback())
        return made[-1]

    pool = ConnectionPool(connect, max_size=1, is_disconnect=lambda exc: True)
    conn = pool.connect()
    if suspect:
        with pytest.raises(sqlite3.OperationalError):
            conn.cursor().execute("SELEC 1")
    with pytest.raises(eventlet.Timeout), eventlet.Timeout(0.01):
        conn.close()
    # Interrupted mid-rollback: the connection's state is unknown, so it is
    # closed, and its slot is free again.
    assert made[0].closed
    assert pool.free() == 1
    assert pool.stats().checked_out == 0
    pool.close()


def test_iterating_a_cursor_to_its_end_is_not_an_error(opened: Opened) -> None:
    # Every error counts as a disconnect here: the end of the rows must not.
    pool = ConnectionPool(opened, max_size=1, is_disconnect=lambda exc: True)
    with pool.connection() as conn:
        cur = conn.cursor()
        cur.execute("SELECT 1 UNION SELECT 2")
        assert sorted(cur) == [(1,), (2,)]
        assert conn._suspect is False
    pool.close()
