"""ConnectionPool against the real PostgreSQL and MariaDB servers of this
machine (127.0.0.1, database ``test``), through the pure-Python drivers
pg8000 and PyMySQL made green by eventlet.

The drivers are imported with ``eventlet.import_patched``: the same green
sockets ``eventlet.monkey_patch()`` would give them, without patching the
whole test process. The servers must be running (.ci/run starts them); a
server that cannot be reached fails these tests rather than skipping them.
The tests create no tables: they only run queries and watch their own
connections through pg_stat_activity and the PROCESSLIST.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet.event import Event

from eventlet_pools import ConnectionPool


@dataclass
class Server:
    """How to talk to one server, and to watch and kill our connections."""

    name: str
    driver: Any
    connect_kwargs: dict[str, Any]
    own_id_sql: str
    sleep_sql: str
    count_sql: str  # formatted with a comma-separated list of ids
    kill: Callable[[Any, list[int]], None]
    ids: list[int] = field(default_factory=list)

    def connect(self) -> Any:
        """Open a connection and note its server-side id."""
        conn = self.driver.connect(**self.connect_kwargs)
        cur = conn.cursor()
        cur.execute(self.own_id_sql)
        self.ids.append(int(cur.fetchone()[0]))
        cur.close()
        conn.rollback()
        return conn

    def admin(self) -> Any:
        conn = self.driver.connect(**self.connect_kwargs)
        if self.name == "postgresql":
            conn.autocommit = True
        else:
            conn.autocommit(True)
        return conn

    def alive(self, admin: Any) -> int:
        """How many of the connections we opened the server still has."""
        if not self.ids:
            return 0
        cur = admin.cursor()
        cur.execute(self.count_sql.format(",".join(str(i) for i in self.ids)))
        return int(cur.fetchone()[0])


def _pg_kill(admin: Any, ids: list[int]) -> None:
    cur = admin.cursor()
    cur.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ({})".format(
            ",".join(str(i) for i in ids)
        )
    )
    cur.fetchall()


def _my_kill(admin: Any, ids: list[int]) -> None:
    cur = admin.cursor()
    for server_id in ids:
        try:
            cur.execute(f"KILL {int(server_id)}")
        except Exception as exc:  # already gone: error 1094 "Unknown thread id"
            if "1094" not in str(exc):
                raise


def make_server(name: str) -> Server:
    if name == "postgresql":
        return Server(
            name,
            eventlet.import_patched("pg8000"),
            {"user": "postgres", "host": "127.0.0.1", "port": 5432, "database": "test"},
            "SELECT pg_backend_pid()",
            "SELECT pg_sleep(%s)",
            "SELECT count(*) FROM pg_stat_activity WHERE pid IN ({})",
            _pg_kill,
        )
    return Server(
        name,
        eventlet.import_patched("pymysql"),
        {"user": "root", "host": "127.0.0.1", "port": 3306, "database": "test"},
        "SELECT CONNECTION_ID()",
        "SELECT SLEEP(%s)",
        "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID IN ({})",
        _my_kill,
    )


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest) -> Server:
    srv = make_server(request.param)
    try:
        srv.admin().close()
    except Exception as exc:
        pytest.fail(f"{srv.name} is not reachable on {srv.connect_kwargs}: {exc!r} (.ci/run starts it)")
    return srv


def run_query(pool: ConnectionPool, server: Server, seconds: float) -> None:
    with pool.connection() as conn:
        cur = conn.cursor()
        cur.execute(server.sleep_sql, (seconds,))
        cur.fetchall()


def test_fifty_greenthreads_share_ten_server_connections(server: Server) -> None:
    pool = ConnectionPool(server.connect, max_size=10)
    admin = server.admin()
    most_alive = 0
    done = Event()

    def watch() -> None:
        nonlocal most_alive
        while not done.ready():
            most_alive = max(most_alive, server.alive(admin))
            eventlet.sleep(0.02)

    watcher = eventlet.spawn(watch)
    started = time.monotonic()
    with eventlet.Timeout(30):
        workers = [eventlet.spawn(run_query, pool, server, 0.2) for _ in range(50)]
        for worker in workers:
            worker.wait()
    elapsed = time.monotonic() - started
    done.send()
    watcher.wait()
    # Five rounds of 0.2 s on ten connections: about 1 s, where one
    # connection at a time would take 10 s.
    assert 0.9 <= elapsed < 3.0, elapsed
    assert len(server.ids) == 10
    assert 1 <= most_alive <= 10
    assert pool.free() == 10
    pool.close()
    for _ in range(50):  # the server drops closed connections asynchronously
        if server.alive(admin) == 0:
            break
        eventlet.sleep(0.02)
    assert server.alive(admin) == 0
    admin.close()


def test_pool_recovers_when_the_server_kills_its_connections(server: Server) -> None:
    pool = ConnectionPool(server.connect, max_size=5, timeout=10)
    admin = server.admin()
    failures: dict[int, int] = {}
    queries = 0
    enough = Event()

    def worker(n: int) -> None:
        nonlocal queries
        failures[n] = 0
        for _ in range(15):
            try:
                run_query(pool, server, 0.01)
            except server.driver.Error:
                failures[n] += 1
            queries += 1
            if queries == 40 and not enough.ready():
                enough.send()

    with eventlet.Timeout(60):
        workers = [eventlet.spawn(worker, n) for n in range(20)]
        enough.wait()  # sequence point: all five connections in use, mid-run
        before = list(server.ids)
        assert len(before) == 5
        server.kill(admin, before)
        for w in workers:
            w.wait()
    assert sum(failures.values()) >= 1, "the kill should have cost some query"
    assert max(failures.values()) <= 1, failures
    # No slot lost, nobody waiting, and the pool works on new connections.
    assert pool.waiting() == 0
    assert pool.free() == 5
    assert pool.stats().checked_out == 0
    run_query(pool, server, 0)
    assert len(server.ids) > 5
    assert server.alive(admin) <= 5
    pool.close()
    admin.close()


def test_drain_follows_a_rotation_on_postgresql() -> None:
    # What a password rotation looks like to the pool: connect() reads its
    # parameters when called. (This server trusts 127.0.0.1, so the rotated
    # parameter is the application_name, which the server reports back.)
    server = make_server("postgresql")
    current = {"application_name": "eventlet_pools-before"}

    def connect() -> Any:
        return server.driver.connect(**server.connect_kwargs, **current)

    def name_of(conn: Any) -> str:
        cur = conn.cursor()
        cur.execute("SELECT current_setting('application_name')")
        (name,) = cur.fetchone()
        cur.close()
        return str(name)

    pool = ConnectionPool(connect, min_size=1, max_size=4)
    in_use = [pool.connect() for _ in range(2)]
    pool.connect().close()  # (and one more free)
    assert all(name_of(conn) == "eventlet_pools-before" for conn in in_use)
    current["application_name"] = "eventlet_pools-after"  # the rotation
    pool.drain()
    assert all(name_of(conn) == "eventlet_pools-before" for conn in in_use)  # still working
    for conn in in_use:
        conn.close()  # made before the drain: closed as they come back
    fresh = [pool.connect() for _ in range(4)]
    assert [name_of(conn) for conn in fresh] == ["eventlet_pools-after"] * 4
    for conn in fresh:
        conn.close()
    assert pool.stats().disposed["drained"] >= 3
    pool.close()
