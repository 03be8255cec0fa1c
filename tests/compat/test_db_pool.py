"""The eventlet.db_pool that ships in eventlet, on eventlet.pools and on ours.

The installed ``eventlet/db_pool.py`` is loaded with its base class pointed
at each pools module (see :func:`load_db_pool_on`), and its
RawConnectionPool and TpooledConnectionPool run on sqlite3, PostgreSQL
(pg8000) and MariaDB (PyMySQL): the raw pool with the drivers made green,
the tpooled one with the plain drivers in eventlet's thread pool. The
queries are ``SELECT 1``: no tables are made.
"""

from __future__ import annotations

import sqlite3
import time
import warnings
from types import ModuleType
from typing import Any, Callable

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.tpool

import pg8000.dbapi
import pymysql

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


@pytest.fixture(params=["raw", "tpooled"])
def make_pool(request: pytest.FixtureRequest, pools: ModuleType, database: str) -> Any:
    """Builds eventlet's db_pool pools of one kind on one database."""
    db_pool = load_db_pool_on(pools)
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
    pools: ModuleType, make_pool: Callable[..., Any]
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
    assert all(not is_closed(item[2]) for item in pool.free_items)


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


def test_a_failing_connect_loses_no_slot(pools: ModuleType, database: str) -> None:
    db_pool = load_db_pool_on(pools)

    class Refusing:
        @staticmethod
        def connect(*args: Any, **kwargs: Any) -> Any:
            raise ConnectionRefusedError("no server")

    pool = db_pool.RawConnectionPool(Refusing, max_size=1)
    for _ in range(3):
        with pytest.raises(ConnectionRefusedError):
            pool.get()
    assert (pool.current_size, pool.free()) == (0, 1)
