"""eventlet.db_pool on eventlet.pools and on ours, and eventlet_pools.db_pool.

Three db_pool modules run the same tests: the installed
``eventlet/db_pool.py`` loaded with its base class pointed at
eventlet.pools or at eventlet_pools (see :func:`load_db_pool_on`), and
this library's own :mod:`eventlet_pools.db_pool`. Their RawConnectionPool
and TpooledConnectionPool run on sqlite3, PostgreSQL (pg8000) and MariaDB
(PyMySQL): the raw pool with the drivers made green, the tpooled one with
the plain drivers in eventlet's thread pool. The queries are ``SELECT 1``:
no tables are made on the servers. The last tests are of what
eventlet_pools.db_pool does better.
"""

from __future__ import annotations

import gc
import sqlite3
import time
import warnings
from types import ModuleType
from typing import Any, Callable

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.pools
    import eventlet.tpool

import pg8000.dbapi
import pymysql

import eventlet_pools
import eventlet_pools.db_pool
from tests.compat.eventlet_db_pool_suite import load_db_pool_on

pytestmark = pytest.mark.timeout(60)

green_pg8000: Any = eventlet.import_patched("pg8000.dbapi")
green_pymysql: Any = eventlet.import_patched("pymysql")

# name -> (module for the raw pool, module for the tpooled pool, connect kwargs)
DATABASES: dict[str, tuple[Any, Any, dict[str, Any]]] = {
    "sqlite3": (sqlite3, sqlite3, {"database": ":memory:", "check_same_thread": False}),
    "postgresql": (
        green_pg8000,
        pg8000.dbapi,
        {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"},
    ),
    "mariadb": (
        green_pymysql,
        pymysql,
        {"host": "127.0.0.1", "port": 3306, "user": "root", "database": "test"},
    ),
}


@pytest.fixture(params=sorted(DATABASES))
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["eventlet.pools", "eventlet_pools", "eventlet_pools.db_pool"])
def db_pool(request: pytest.FixtureRequest) -> ModuleType:
    """eventlet's db_pool on eventlet's pool, eventlet's db_pool on ours, or ours."""
    if request.param == "eventlet_pools.db_pool":
        return eventlet_pools.db_pool
    return load_db_pool_on(eventlet.pools if request.param == "eventlet.pools" else eventlet_pools)


def is_our_module(db_pool: ModuleType) -> bool:
    return db_pool is eventlet_pools.db_pool


@pytest.fixture(params=["raw", "tpooled"])
def make_pool(request: pytest.FixtureRequest, db_pool: ModuleType, database: str) -> Any:
    """Builds db_pool pools of one kind on one database."""
    raw_module, plain_module, kwargs = DATABASES[database]
    made: list[Any] = []

    def make(**options: Any) -> Any:
        if request.param == "raw":
            pool = db_pool.RawConnectionPool(raw_module, **options, **kwargs)
        else:
            pool = db_pool.TpooledConnectionPool(plain_module, **options, **kwargs)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.clear()
    if request.param == "tpooled":
        eventlet.tpool.killall()


def select_one(conn: Any) -> Any:
    cur = conn.cursor()
    cur.execute("SELECT 1")
    row = cur.fetchone()
    cur.close()
    return row[0]


def is_closed(raw: Any) -> bool:
    try:
        select_one(raw)
    except Exception:
        return True
    return False


def wait_for(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        eventlet.sleep(0.02)


def test_waiters_are_served_and_a_dead_connection_returned_while_they_wait(
    make_pool: Callable[..., Any],
) -> None:
    pool = make_pool(max_size=2)
    held = [pool.get(), pool.get()]
    served: list[int] = []

    def worker(n: int) -> None:
        conn = pool.get()
        try:
            assert select_one(conn) == 1
            served.append(n)
        finally:
            pool.put(conn)

    workers = [eventlet.spawn(worker, n) for n in range(6)]
    eventlet.sleep(0)
    assert pool.waiting() == 6
    assert select_one(held[0]) == 1  # in a transaction: rollback() must talk
    held[0]._base.close()  # the server went away under it
    # put() finds it dead (its rollback fails): a waiter is woken to connect
    # anew, then put() walks free_items, which must hold only its tuples.
    pool.put(held[0])
    pool.put(held[1])
    for gt in workers:
        gt.wait()
    assert sorted(served) == list(range(6))
    assert pool.waiting() == 0
    assert pool.current_size == 2
    assert pool.free() == 2
    # eventlet's db_pool keeps (last_used, created, conn) tuples; ours, connections
    assert all(not is_closed(item[2] if isinstance(item, tuple) else item) for item in pool.free_items)


def test_max_idle_closes_free_connections(make_pool: Callable[..., Any]) -> None:
    pool = make_pool(max_size=2, max_idle=0.2, max_age=60)
    conn = pool.get()
    raw = conn._base
    assert select_one(conn) == 1
    pool.put(conn)
    assert len(pool.free_items) == 1
    wait_for(lambda: not pool.free_items)  # the expiry timer fired
    assert pool.current_size == 0
    assert is_closed(raw)
    again = pool.get()
    assert select_one(again) == 1
    pool.put(again)


def test_max_age_closes_a_connection_when_it_comes_back(make_pool: Callable[..., Any]) -> None:
    pool = make_pool(max_size=1, max_idle=60, max_age=0.2)
    conn = pool.get()
    raw = conn._base
    started = time.time()
    wait_for(lambda: time.time() - started > 0.3)
    pool.put(conn)
    assert not pool.free_items
    assert pool.current_size == 0
    assert is_closed(raw)


def test_zero_max_age_makes_it_a_concurrency_limiter(make_pool: Callable[..., Any]) -> None:
    pool = make_pool(max_size=1, max_age=0)
    raws = []
    for _ in range(3):
        with pool.item() as conn:
            raws.append(conn._base)
            assert select_one(conn) == 1
    assert all(is_closed(raw) for raw in raws)
    assert (pool.current_size, len(pool.free_items), pool.free()) == (0, 0, 1)


def test_a_failing_connect_loses_no_slot(db_pool: ModuleType) -> None:
    class Refusing:
        @staticmethod
        def connect(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionRefusedError("no server")

    pool = db_pool.RawConnectionPool(Refusing, max_size=1)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            pool.get()
    assert (pool.current_size, pool.free()) == (0, 1)


def test_a_slow_connect_raises_connect_timeout_and_loses_no_slot(db_pool: ModuleType) -> None:
    class Slow:
        @staticmethod
        def connect(*args: Any, **kwargs: Any) -> Any:
            eventlet.sleep(10)
            return sqlite3.connect(":memory:")

    pool = db_pool.RawConnectionPool(Slow, max_size=1, connect_timeout=0.05)
    with pytest.raises(db_pool.ConnectTimeout):
        pool.get()
    assert (pool.current_size, pool.free()) == (0, 1)


# ---------------------------------------------------------------------------
# what eventlet_pools.db_pool does better


def sqlite_pool(**options: Any) -> Any:
    return eventlet_pools.db_pool.RawConnectionPool(sqlite3, database=":memory:", **options)


def test_waiters_are_served_in_arrival_order_and_can_time_out() -> None:
    pool = sqlite_pool(max_size=1)
    held = pool.get()
    served: list[int] = []

    def worker(n: int) -> None:
        with pool.item() as conn:
            served.append(n)
            assert select_one(conn) == 1

    workers = [eventlet.spawn(worker, n) for n in range(5)]
    eventlet.sleep(0)
    with pytest.raises(eventlet_pools.PoolTimeout):
        pool.get(timeout=0.01)
    assert pool.waiting() == 5
    held.close()
    for gt in workers:
        gt.wait()
    assert served == [0, 1, 2, 3, 4]
    assert (pool.current_size, pool.free()) == (1, 1)


def test_a_forgotten_wrapper_gives_its_connection_back(caplog: pytest.LogCaptureFixture) -> None:
    pool = sqlite_pool(max_size=1)
    conn = pool.get()
    raw = conn._base
    raw.execute("CREATE TEMP TABLE t (x INTEGER)")
    raw.execute("INSERT INTO t VALUES (1)")  # left in a transaction
    with caplog.at_level("WARNING", logger="eventlet_pools"):
        del conn
        gc.collect()
        again = pool.get(timeout=5)  # waits for the greenthread returning it
    assert again._base is raw
    assert select_one(again) == 1
    assert not raw.in_transaction  # it was rolled back
    assert "garbage collected without close()" in caplog.text
    again.close()


def test_returning_twice_or_none_with_nothing_out_changes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    pool = sqlite_pool(max_size=2)
    conn = pool.get()
    conn.close()
    with caplog.at_level("WARNING", logger="eventlet_pools"):
        pool.put(conn)  # the emptied wrapper again
        pool.put(None)
    assert (pool.current_size, len(pool.free_items), pool.free()) == (1, 1, 2)
    assert "twice" in caplog.text
    assert "with nothing checked out" in caplog.text


def test_put_none_while_others_wait_lets_the_first_connect_anew() -> None:
    pool = sqlite_pool(max_size=1)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    held._base.close()
    pool.put(None)  # "the connection I had died"
    new = waiter.wait()
    assert select_one(new) == 1
    assert (pool.current_size, pool.free()) == (1, 0)
    new.close()


def test_clear_closes_the_free_connections_and_opens_none() -> None:
    pool = sqlite_pool(min_size=2, max_size=3)
    raws = [item for item in pool.free_items]
    pool.clear()
    assert all(is_closed(raw) for raw in raws)
    eventlet.sleep(0)  # maintenance does not open them again
    assert (pool.current_size, len(pool.free_items), pool.free()) == (0, 0, 3)
    assert pool.stats().disposed["cleared"] == 2


def test_database_connector_makes_one_pool_per_host_and_database() -> None:
    class Recorder:
        calls: list[dict[str, Any]] = []

        @classmethod
        def connect(cls, **kwargs: Any) -> Any:
            cls.calls.append(kwargs)
            return sqlite3.connect(":memory:")

    connector = eventlet_pools.db_pool.DatabaseConnector(
        Recorder,
        {"db1": {"user": "u1"}, "default": {"user": "anyone"}},
        eventlet_pools.db_pool.RawConnectionPool,
    )
    first = connector.get("db1", "orders")
    assert connector.get("db1", "orders") is first
    assert connector.get("db2", "orders") is not first
    with first.item(), connector.get("db2", "orders").item():
        pass
    assert Recorder.calls == [
        {"db": "orders", "host": "db1", "user": "u1"},
        {"db": "orders", "host": "db2", "user": "anyone"},
    ]
    with pytest.raises(ValueError, match="no credentials for host 'db3'"):
        eventlet_pools.db_pool.DatabaseConnector(Recorder, {}).get("db3", "x")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"db_module": object()}, TypeError, "db_module must be a DB-API module"),
        ({"max_idle": -1}, ValueError, "max_idle"),
        ({"max_age": None}, TypeError, "max_age"),
        ({"connect_timeout": 0}, ValueError, "connect_timeout"),
        ({"cleanup": "rollback"}, TypeError, "cleanup"),
        ({"min_size": 3, "max_size": 2}, ValueError, "min_size"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    arguments: dict[str, Any] = {"db_module": sqlite3, "database": ":memory:"}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        eventlet_pools.db_pool.RawConnectionPool(**arguments)
