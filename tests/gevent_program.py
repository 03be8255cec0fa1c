"""A gevent program for tests/integration/test_gevent.py: monkey-patched by
gevent (never importing eventlet), it uses the pools as a gevent server
would, on the real servers, and checks what it sees.

Run as ``python -m tests.gevent_program CHECK [ARG]``:

``dbapi postgresql|mariadb``  ConnectionPool over pg8000 / PyMySQL: 50
    greenlets x a 0.2 s server-side sleep through 10 connections (about 1 s,
    never more than 10 server connections), then the server kills every
    connection mid-run and the pool goes on, nothing lost.
``redis PORT``  RedisTokenPool over redis-py: FIFO among greenlets, renewals,
    and a storm with kills and timeouts never above max_size.

It exits 0 when every check held (an AssertionError otherwise), printing
what it measured.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any, Callable  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402

from eventlet_pools import ConnectionPool, PoolTimeout  # noqa: E402

SERVERS: dict[str, dict[str, Any]] = {
    "postgresql": {
        "module": "pg8000",
        "kwargs": {"user": "postgres", "host": "127.0.0.1", "port": 5432, "database": "test"},
        "own_id": "SELECT pg_backend_pid()",
        "sleep": "SELECT pg_sleep(%s)",
        "alive": "SELECT count(*) FROM pg_stat_activity WHERE pid IN ({})",
        "kill": "SELECT pg_terminate_backend({})",
    },
    "mariadb": {
        "module": "pymysql",
        "kwargs": {"user": "root", "host": "127.0.0.1", "port": 3306, "database": "test"},
        "own_id": "SELECT CONNECTION_ID()",
        "sleep": "SELECT SLEEP(%s)",
        "alive": "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID IN ({})",
        "kill": "KILL {}",
    },
}


def dbapi(name: str) -> None:
    spec = SERVERS[name]
    driver = __import__(spec["module"])
    ids: list[int] = []

    def connect() -> Any:
        conn = driver.connect(**spec["kwargs"])
        cur = conn.cursor()
        cur.execute(spec["own_id"])
        ids.append(int(cur.fetchone()[0]))
        cur.close()
        conn.rollback()
        return conn

    admin = driver.connect(**spec["kwargs"])
    admin.autocommit = True if name == "postgresql" else admin.autocommit(True)

    def alive() -> int:
        cur = admin.cursor()
        cur.execute(spec["alive"].format(",".join(map(str, ids)) or "0"))
        return int(cur.fetchone()[0])

    def query(pool: ConnectionPool, seconds: float) -> None:
        with pool.connection() as conn:
            cur = conn.cursor()
            cur.execute(spec["sleep"], (seconds,))
            cur.fetchall()

    pool = ConnectionPool(connect, max_size=10)
    assert pool.backend == "gevent", pool.backend
    most = 0
    done = gevent.event.Event()

    def watch() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, alive())
            gevent.sleep(0.02)

    watcher = gevent.spawn(watch)
    started = time.monotonic()
    with gevent.Timeout(30):
        gevent.joinall([gevent.spawn(query, pool, 0.2) for _ in range(50)], raise_error=True)
    elapsed = time.monotonic() - started
    done.set()
    watcher.join()
    # Five rounds of 0.2 s on ten connections: about 1 s (one at a time: 10 s).
    assert 0.9 <= elapsed < 3.0, elapsed
    assert len(ids) == 10, ids
    assert 1 <= most <= 10, most
    assert pool.free() == 10
    pool.close()
    print(f"{name}: 50 x 0.2 s through 10 connections in {elapsed:.2f} s, at most {most} on the server")

    # The server kills every connection mid-run: each worker loses at most
    # one query, and the pool goes on with new connections.
    ids.clear()
    pool = ConnectionPool(connect, max_size=5, timeout=10)
    failures = dict.fromkeys(range(20), 0)
    queries = 0
    enough = gevent.event.Event()

    def worker(n: int) -> None:
        nonlocal queries
        for _ in range(15):
            try:
                query(pool, 0.01)
            except (driver.Error, OSError):  # (pg8000 on patched sockets may raise the socket's error)
                failures[n] += 1
            queries += 1
            if queries == 40:
                enough.set()

    with gevent.Timeout(60):
        workers = [gevent.spawn(worker, n) for n in range(20)]
        enough.wait()
        before = list(ids)
        assert len(before) == 5, before
        cur = admin.cursor()
        for server_id in before:
            try:
                cur.execute(spec["kill"].format(server_id))
            except driver.Error as exc:  # MariaDB: already gone (error 1094)
                if "1094" not in str(exc):
                    raise
        gevent.joinall(workers, raise_error=True)
    assert sum(failures.values()) >= 1, "the kill should have cost some query"
    assert max(failures.values()) <= 1, failures
    assert (pool.waiting(), pool.free(), pool.stats().checked_out) == (0, 5, 0)
    query(pool, 0)
    assert len(ids) > 5
    pool.close()
    admin.close()
    print(f"{name}: killed 5 connections mid-run; {sum(failures.values())} queries failed, none lost")


def redis_checks(port: int) -> None:
    import redis

    from eventlet_pools.redis import RedisTokenPool

    client = redis.Redis(host="127.0.0.1", port=port)
    client.flushall()

    def until(predicate: Callable[[], bool]) -> None:
        with gevent.Timeout(10):
            while not predicate():
                gevent.sleep(0.005)

    pool = RedisTokenPool(client, "fifo", 1, lease=0.3)
    assert pool.backend == "gevent", pool.backend
    held = pool.get()
    first = held.valid_until
    until(lambda: held.valid_until > first + 0.3)  # renewed by the service greenlet
    order: list[int] = []

    def waiter(number: int) -> None:
        with pool.item(timeout=20):
            order.append(number)

    waiters = []
    for number in range(5):
        waiters.append(gevent.spawn(waiter, number))
        until(lambda n=number + 1: pool.waiting() == n)  # type: ignore[misc]
    pool.put(held)
    gevent.joinall(waiters, raise_error=True)
    assert order == list(range(5)), order
    pool.close()

    rng = random.Random(7)
    storm = RedisTokenPool(client, "storm", 3)
    active = most = 0

    def cycle() -> None:
        nonlocal active, most
        for _ in range(5):
            try:
                with storm.item(timeout=rng.choice([0.0, 0.01, 5.0])):
                    active += 1
                    most = max(most, active)
                    try:
                        gevent.sleep(rng.choice([0, 0.001]))
                    finally:  # (a kill lands here too: the holder is out)
                        active -= 1
            except PoolTimeout:
                pass

    greenlets = [gevent.spawn(cycle) for _ in range(100)]
    for _ in range(20):  # kill some, wherever they are
        gevent.sleep(rng.random() * 0.01)
        rng.choice(greenlets).kill(block=False)
    gevent.joinall(greenlets, timeout=50)
    assert all(g.dead for g in greenlets)
    assert most <= 3, most
    until(lambda: storm.waiting() == 0)
    assert (storm.size(), storm.free()) == (0, 3)
    storm.close()
    print(f"redis: FIFO of 5, renewals, a storm of 100 greenlets with kills at most {most} holders")


def main() -> int:
    check = sys.argv[1]
    if check == "dbapi":
        dbapi(sys.argv[2])
    elif check == "redis":
        redis_checks(int(sys.argv[2]))
    else:
        raise SystemExit(f"unknown check {check!r}")
    assert "eventlet" not in sys.modules
    return 0


if __name__ == "__main__":
    sys.exit(main())
