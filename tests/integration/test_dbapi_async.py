"""ConnectionPool(backend='asyncio') with an async driver, psycopg's
AsyncConnection, against this machine's PostgreSQL (127.0.0.1, database
``test``; .ci/run starts it: an unreachable server fails these tests).
They create no tables: they run queries and watch their own connections
through pg_stat_activity."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, Callable, TypeVar

import psycopg
import pytest
from psycopg.pq import TransactionStatus

from eventlet_pools import ConnectionClosed, ConnectionPool
from eventlet_pools.dbapi import ping

DSN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
R = TypeVar("R")


def run(main: Callable[[], Awaitable[R]]) -> R:
    return asyncio.run(asyncio.wait_for(main(), 60))


class Server:
    """Opens async connections, noting each one's backend pid."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    async def connect(self) -> Any:
        conn = await psycopg.AsyncConnection.connect(DSN)
        cur = await conn.execute("SELECT pg_backend_pid()")
        row = await cur.fetchone()
        assert row is not None
        self.pids.append(int(row[0]))
        await conn.rollback()
        return conn

    async def alive(self, admin: Any) -> int:
        if not self.pids:
            return 0
        cur = await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (self.pids,))
        row = await cur.fetchone()
        return int(row[0])


async def admin_connection() -> Any:
    try:
        return await psycopg.AsyncConnection.connect(DSN, autocommit=True)
    except Exception as exc:
        pytest.fail(f"PostgreSQL is not reachable at {DSN!r}: {exc!r} (.ci/run starts it)")


def test_checkout_execute_rollback_on_return_and_close() -> None:
    async def main() -> None:
        server = Server()
        pings: list[Any] = []

        def counting_ping(conn: Any) -> Any:
            pings.append(conn)
            return ping(conn)  # a coroutine: the pool awaits it

        pool = ConnectionPool(
            server.connect, max_size=1, check=counting_ping, check_when_idle=0, backend="asyncio"
        )
        async with pool.aconnection() as conn:
            cur = await conn.execute("SELECT 40 + 2")
            assert await cur.fetchone() == (42,)
            raw = conn.connection
            assert raw.info.transaction_status == TransactionStatus.INTRANS
        assert raw.info.transaction_status == TransactionStatus.IDLE  # rolled back on return
        async with pool.aconnection() as conn:
            assert conn.connection is raw  # the same one, pinged first
            await conn.execute("SELECT 1")
            await conn.commit()
            assert raw.info.transaction_status == TransactionStatus.IDLE
        assert pings == [raw]  # check_when_idle=0: the second checkout pinged it
        conn = await pool.aconnect()
        await conn.close()
        await conn.close()  # idempotent
        with pytest.raises(ConnectionClosed):
            conn.execute("SELECT 1")
        assert pool.free() == 1
        await pool.aclose()
        assert raw.closed  # the async close was awaited
        assert len(server.pids) == 1

    run(main)


def test_fifty_tasks_share_ten_server_connections() -> None:
    async def main() -> None:
        server = Server()
        pool = ConnectionPool(server.connect, max_size=10, backend="asyncio")
        admin = await admin_connection()
        most_alive = 0
        done = asyncio.Event()

        async def watch() -> None:
            nonlocal most_alive
            while not done.is_set():
                most_alive = max(most_alive, await server.alive(admin))
                await asyncio.sleep(0.02)

        async def query() -> None:
            async with pool.aconnection() as conn:
                cur = await conn.execute("SELECT pg_sleep(0.2)")
                await cur.fetchall()

        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        await asyncio.gather(*(query() for _ in range(50)))
        elapsed = time.monotonic() - started
        done.set()
        await watcher
        # Five rounds of 0.2 s on ten connections: about 1 s, where one
        # connection at a time would take 10 s.
        assert 0.9 <= elapsed < 3.0, elapsed
        assert len(server.pids) == 10
        assert 1 <= most_alive <= 10
        assert pool.free() == 10
        await pool.aclose()
        for _ in range(50):  # the server drops closed connections asynchronously
            if await server.alive(admin) == 0:
                break
            await asyncio.sleep(0.02)
        assert await server.alive(admin) == 0
        await admin.close()

    run(main)


def test_pool_recovers_when_the_server_kills_its_connections() -> None:
    async def main() -> None:
        server = Server()
        pool = ConnectionPool(server.connect, max_size=5, timeout=10, backend="asyncio")
        admin = await admin_connection()
        failures: dict[int, int] = {}
        queries = 0
        enough = asyncio.Event()

        async def worker(n: int) -> None:
            nonlocal queries
            failures[n] = 0
            for _ in range(15):
                try:
                    async with pool.aconnection() as conn:
                        cur = await conn.execute("SELECT pg_sleep(0.01)")
                        await cur.fetchall()
                except psycopg.Error:
                    failures[n] += 1
                queries += 1
                if queries == 40:
                    enough.set()

        workers = [asyncio.create_task(worker(n)) for n in range(20)]
        await enough.wait()  # sequence point: all five connections in use, mid-run
        before = list(server.pids)
        assert len(before) == 5
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)", (before,)
        )
        await asyncio.gather(*workers)
        assert sum(failures.values()) >= 1, "the kill should have cost some query"
        assert max(failures.values()) <= 1, failures
        # No slot lost, nobody waiting, and the pool works on new connections.
        assert pool.waiting() == 0
        assert pool.free() == 5
        assert pool.stats().checked_out == 0
        async with pool.aconnection() as conn:
            await conn.execute("SELECT 1")
        assert len(server.pids) > 5
        await pool.aclose()
        await admin.close()

    run(main)
