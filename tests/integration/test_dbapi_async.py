"""ConnectionPool(backend='asyncio') with async drivers against this
machine's servers (127.0.0.1, database ``test``; .ci/run starts them: an
unreachable server fails these tests): PostgreSQL through psycopg's
AsyncConnection, MariaDB through aiomysql. They create no tables: they run
queries and watch their own connections through pg_stat_activity and the
PROCESSLIST."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, TypeVar

import aiomysql
import psycopg
import pytest
from psycopg.pq import TransactionStatus

from eventlet_pools import ConnectionClosed, ConnectionPool
from eventlet_pools.dbapi import ping

PG_DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
MY_ARGS: dict[str, Any] = {"host": "127.0.0.1", "port": 3306, "user": "root", "db": "test"}
R = TypeVar("R")


def run(main: Callable[[], Awaitable[R]]) -> R:
    return asyncio.run(asyncio.wait_for(main(), 60))


async def query(conn: Any, sql: str, args: Optional[tuple[Any, ...]] = None) -> list[Any]:
    """Run one statement through a cursor (the same code for both drivers,
    pooled or not) and return its rows."""
    async with conn.cursor() as cur:
        await cur.execute(sql, args)
        return list(await cur.fetchall())


@dataclass
class Server:
    """How to reach one server, and to watch and kill our connections."""

    name: str
    open: Callable[[], Awaitable[Any]]
    open_admin: Callable[[], Awaitable[Any]]
    own_id_sql: str
    sleep_sql: str
    count_sql: str  # formatted with a comma-separated list of ids
    begin_sql: str  # opens a transaction
    in_transaction: Callable[[Any], bool]
    errors: type[BaseException]
    ids: list[int] = field(default_factory=list)

    async def connect(self) -> Any:
        """Open a connection and note its server-side id."""
        conn = await self.open()
        self.ids.append(int((await query(conn, self.own_id_sql))[0][0]))
        await conn.rollback()
        return conn

    async def admin(self) -> Any:
        try:
            return await self.open_admin()
        except Exception as exc:
            pytest.fail(f"{self.name} is not reachable: {exc!r} (.ci/run starts it)")

    async def alive(self, admin: Any) -> int:
        if not self.ids:
            return 0
        rows = await query(admin, self.count_sql.format(",".join(str(i) for i in self.ids)))
        return int(rows[0][0])

    async def kill(self, admin: Any, ids: list[int]) -> None:
        if self.name == "postgresql":
            await query(
                admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", (ids,)
            )
            return
        for server_id in ids:
            try:
                async with admin.cursor() as cur:
                    await cur.execute(f"KILL {int(server_id)}")
            except Exception as exc:  # already gone: error 1094 "Unknown thread id"
                if "1094" not in str(exc):
                    raise


def make_server(name: str) -> Server:
    if name == "postgresql":
        return Server(
            name,
            lambda: psycopg.AsyncConnection.connect(PG_DSN),
            lambda: psycopg.AsyncConnection.connect(PG_DSN, autocommit=True),
            "SELECT pg_backend_pid()",
            "SELECT pg_sleep(%s)",
            "SELECT count(*) FROM pg_stat_activity WHERE pid IN ({})",
            "SELECT 1",
            lambda raw: raw.info.transaction_status != TransactionStatus.IDLE,
            psycopg.Error,
        )
    return Server(
        name,
        lambda: aiomysql.connect(**MY_ARGS),
        lambda: aiomysql.connect(autocommit=True, **MY_ARGS),
        "SELECT CONNECTION_ID()",
        "SELECT SLEEP(%s)",
        "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID IN ({})",
        "START TRANSACTION",
        lambda raw: bool(raw.get_transaction_status()),
        aiomysql.Error,
    )


async def close_admin(admin: Any) -> None:
    closing = admin.close()  # a coroutine for psycopg, done at once for aiomysql
    if closing is not None:
        await closing


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request: pytest.FixtureRequest) -> Server:
    return make_server(request.param)


def test_checkout_rollback_on_return_idle_ping_and_close(server: Server) -> None:
    async def main() -> None:
        pings: list[Any] = []

        def counting_ping(conn: Any) -> Any:
            pings.append(conn)
            return ping(conn)  # a coroutine: the pool awaits it

        pool = ConnectionPool(
            server.connect, max_size=1, check=counting_ping, check_when_idle=0, backend="asyncio"
        )
        async with pool.aconnection() as conn:
            assert await query(conn, "SELECT 40 + 2") == [(42,)]
            await query(conn, server.begin_sql)
            raw = conn.connection
            assert server.in_transaction(raw)
        assert not server.in_transaction(raw)  # rolled back on return
        async with pool.aconnection() as conn:
            assert conn.connection is raw  # the same one, pinged first
            assert await query(conn, "SELECT 1") == [(1,)]
            await conn.commit()
        assert pings == [raw]  # check_when_idle=0: the second checkout pinged it
        conn = await pool.aconnect()
        await conn.close()
        await conn.close()  # idempotent
        with pytest.raises(ConnectionClosed):
            conn.cursor()
        assert pool.free() == 1
        await pool.aclose()
        assert raw.closed  # closed (and an async close awaited)
        assert len(server.ids) == 1

    run(main)


def test_fifty_tasks_share_ten_server_connections(server: Server) -> None:
    async def main() -> None:
        pool = ConnectionPool(server.connect, max_size=10, backend="asyncio")
        admin = await server.admin()
        most_alive = 0
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal most_alive
            while not done.is_set():
                most_alive = max(most_alive, await server.alive(admin))
                await asyncio.sleep(0.02)

        async def one_query() -> None:
            async with pool.aconnection() as conn:
                await query(conn, server.sleep_sql, (0.2,))

        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        await asyncio.gather(*(one_query() for _ in range(50)))
        elapsed = time.monotonic() - started
        done.set()
        await watcher
        # Five rounds of 0.2 s on ten connections: about 1 s, where one
        # connection at a time would take 10 s.
        assert 0.9 <= elapsed < 3.0, elapsed
        assert len(server.ids) == 10
        assert 1 <= most_alive <= 10
        assert pool.free() == 10
        await pool.aclose()
        for _ in range(50):  # the server drops closed connections asynchronously
            if await server.alive(admin) == 0:
                break
            await asyncio.sleep(0.02)
        assert await server.alive(admin) == 0
        await close_admin(admin)

    run(main)


def test_pool_recovers_when_the_server_kills_its_connections(server: Server) -> None:
    async def main() -> None:
        pool = ConnectionPool(server.connect, max_size=5, timeout=10, backend="asyncio")
        admin = await server.admin()
        failures: dict[int, int] = {}
        queries = 0
        enough = asyncio.Event()

        async def worker(n: int) -> None:
            nonlocal queries
            failures[n] = 0
            for _ in range(15):
                try:
                    async with pool.aconnection() as conn:
                        await query(conn, server.sleep_sql, (0.01,))
                except server.errors:
                    failures[n] += 1
                queries += 1
                if queries == 40:
                    enough.set()

        workers = [asyncio.create_task(worker(n)) for n in range(20)]
        await enough.wait()  # sequence point: all five connections in use, mid-run
        before = list(server.ids)
        assert len(before) == 5
        await server.kill(admin, before)
        await asyncio.gather(*workers)
        assert sum(failures.values()) >= 1, "the kill should have cost some query"
        assert max(failures.values()) <= 1, failures
        # No slot lost, nobody waiting, and the pool works on new connections.
        assert pool.waiting() == 0
        assert pool.free() == 5
        assert pool.stats().checked_out == 0
        async with pool.aconnection() as conn:
            await query(conn, "SELECT 1")
        assert len(server.ids) > 5
        await pool.aclose()
        await close_admin(admin)

    run(main)
