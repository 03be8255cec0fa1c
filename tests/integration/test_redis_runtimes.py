"""RedisTokenPool and @pooled off eventlet: from OS threads with a plain
redis.Redis, and from asyncio tasks with a redis.asyncio.Redis.

The same contract as tests/integration/test_redis.py checks on eventlet:
admission, FIFO across waiters, timeouts and cancellations that leave the
line (a grant to a cancelled task passes on), renewals, a dropped token
released, close, resize, and storms that never admit more than max_size."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import random
import threading
import time
from collections.abc import Awaitable, Iterator
from typing import Any, Callable, TypeVar

import pytest
import redis
import redis.asyncio

from eventlet_pools import LeaseLost, PoolClosed, PoolError, PoolTimeout
from eventlet_pools.redis import RedisTokenPool, pooled
from eventlet_pools.redis.testing import RedisServer
from tests.conftest import Gauge

R = TypeVar("R")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    """A plain (thread-safe) client on an empty Redis."""
    conn = redis.Redis(host=server.host, port=server.port)
    conn.flushall()
    yield conn
    conn.close()


def until(predicate: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def run(server: RedisServer, main: Callable[[Any], Awaitable[R]]) -> R:
    """Run ``main(async_client)`` in a new loop, on an empty Redis. The
    client has 20 connections, which tasks wait for (as a service under
    load would configure it)."""

    async def outer() -> R:
        connections = redis.asyncio.BlockingConnectionPool(
            host=server.host, port=server.port, max_connections=20, timeout=30
        )
        client = redis.asyncio.Redis(connection_pool=connections)
        await client.flushall()
        try:
            return await asyncio.wait_for(main(client), 50)
        finally:
            await client.aclose()

    return asyncio.run(outer())


# ----------------------------------------------------------------------
# choosing the runtime


def async_client(server: RedisServer) -> Any:
    """An asyncio client made outside any loop, for the type checks only
    (made in a loop: Python 3.9's asyncio.Lock() wants one)."""

    async def make() -> Any:
        return redis.asyncio.Redis(host=server.host, port=server.port)

    return asyncio.run(make())


def test_the_client_decides_the_runtime(server: RedisServer, client: redis.Redis) -> None:
    # eventlet is imported in this process: 'auto' with a plain client is
    # eventlet, as before; threads are asked for by name.
    assert RedisTokenPool(client, "auto", 1).backend == "eventlet"
    assert RedisTokenPool(client, "threads", 1, backend="threads").backend == "threads"
    aclient = async_client(server)
    assert RedisTokenPool(aclient, "auto", 1).backend == "asyncio"
    with pytest.raises(TypeError, match=r"redis\.asyncio client runs on backend='asyncio'"):
        RedisTokenPool(aclient, "x", 1, backend="threads")
    with pytest.raises(TypeError, match=r"needs a redis\.asyncio\.Redis client"):
        RedisTokenPool(client, "x", 1, backend="asyncio")
    with pytest.raises(ValueError, match="backend must be one of"):
        RedisTokenPool(client, "x", 1, backend="fibers")


def test_the_wrong_methods_for_the_runtime_are_refused(server: RedisServer, client: redis.Redis) -> None:
    threads = RedisTokenPool(client, "plain", 1, backend="threads")
    with pytest.raises(PoolError, match="is for a pool on asyncio"):
        asyncio.run(threads.aget())

    async def main(aclient: Any) -> None:
        pool = RedisTokenPool(aclient, "async", 1)
        for call in (pool.get, pool.size, pool.free, pool.waiting, lambda: pool.resize(2)):
            with pytest.raises(PoolError, match="use the a-methods"):
                call()
        token = await pool.aget()
        with pytest.raises(PoolError, match="use the a-methods"):
            pool.put(token)  # refused before anything changed: aput() still works
        await pool.aput(token)
        assert await pool.asize() == 0

    run(server, main)


# ----------------------------------------------------------------------
# threads


def test_threads_get_put_item_size_free(client: redis.Redis) -> None:
    pool = RedisTokenPool(client, "basic", 2, backend="threads")
    first = pool.get()
    with pool.item() as second:
        assert second.id != first.id
        assert (pool.size(), pool.free()) == (2, 0)
        with pytest.raises(PoolTimeout):
            pool.get(block=False)
    pool.put(first)
    assert (pool.size(), pool.free(), pool.waiting()) == (0, 2, 0)
    with pytest.raises(LeaseLost, match="already"):
        pool.put(first)
    pool.close()


def test_threads_wait_in_arrival_order(client: redis.Redis) -> None:
    pool = RedisTokenPool(client, "fifo", 1, backend="threads")
    held = pool.get()
    order: list[int] = []
    threads = []
    for number in range(5):

        def waiter(number: int = number) -> None:
            with pool.item(timeout=20):
                order.append(number)

        thread = threading.Thread(target=waiter)
        thread.start()
        threads.append(thread)
        until(functools.partial(lambda n: pool.waiting() == n, number + 1))  # in line first
    pool.put(held)
    for thread in threads:
        thread.join(20)
    assert order == [0, 1, 2, 3, 4]
    assert (pool.size(), pool.waiting()) == (0, 0)
    pool.close()


@pytest.mark.parametrize("backend", ["threads", "eventlet"])
def test_close_while_the_acquire_is_under_way_fails_the_caller(client: redis.Redis, backend: str) -> None:
    # close() lands after Redis put the caller in line but before the
    # caller registered as a local waiter (on threads: another thread's
    # close(); on any runtime: one during the round trip). The caller must
    # get PoolClosed at once and leave the line, not wait out its timeout.
    pool = RedisTokenPool(client, f"close-race-{backend}", 1, backend=backend)
    held = pool.get()
    real_call = pool._call

    def call(name: str, *args: Any) -> Any:
        reply = real_call(name, *args)
        if name == "ACQUIRE" and int(reply[0]) != 1:
            pool.close()  # (now, before the caller goes on)
        return reply

    pool._call = call  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(PoolClosed, match="closed while waiting"):
        pool.get(timeout=20)
    assert time.monotonic() - started < 10
    assert pool.waiting() == 0  # left the line
    pool.put(held)
    assert pool.size() == 0


def test_threads_timeout_and_close_leave_the_line(client: redis.Redis) -> None:
    pool = RedisTokenPool(client, "leave", 1, backend="threads")
    held = pool.get()
    with pytest.raises(PoolTimeout):
        pool.get(timeout=0.05)
    assert pool.waiting() == 0
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            pool.get(timeout=20)
        except PoolClosed as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    until(lambda: pool.waiting() == 1)
    pool.close()
    thread.join(20)
    assert len(errors) == 1
    until(lambda: pool.waiting() == 0)
    pool.put(held)  # still released after close
    assert pool.size() == 0


def test_threads_renew_held_leases_and_release_dropped_tokens(
    client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    pool = RedisTokenPool(client, "renew", 1, lease=0.3, backend="threads")
    token = pool.get()
    first = token.valid_until
    until(lambda: token.valid_until > first + 0.3)  # renewed, more than once
    with pytest.raises(PoolTimeout):
        pool.get(block=False)
    pool.put(token)
    with caplog.at_level(logging.WARNING, "eventlet_pools"):
        pool.get()  # dropped at once
        gc.collect()
        pool.put(pool.get(timeout=10))  # waits until the daemon thread released it
    assert "without put()" in caplog.text
    pool.close()


def test_threads_resize_wakes_waiters(client: redis.Redis) -> None:
    pool = RedisTokenPool(client, "resize", 1, backend="threads")
    held = pool.get()
    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(pool.get(timeout=20))) for _ in range(2)]
    for thread in threads:
        thread.start()
    until(lambda: pool.waiting() == 2)
    pool.resize(3)
    for thread in threads:
        thread.join(20)
    assert len(got) == 2
    for token in [held, *got]:
        pool.put(token)
    pool.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_a_storm_of_threads_never_over_admits(client: redis.Redis, seed: int) -> None:
    rng = random.Random(seed)
    pool = RedisTokenPool(client, "storm", 3, backend="threads")
    gauge = Gauge()
    timeouts = [rng.choice([0.0, 0.01, 5.0]) for _ in range(24 * 15)]
    served = []

    def worker(index: int) -> None:
        for cycle in range(15):
            try:
                token = pool.get(timeout=timeouts[index * 15 + cycle])
            except PoolTimeout:
                continue
            gauge.enter()
            time.sleep(0.0005)
            gauge.leave()
            pool.put(token)
            served.append(1)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(50)
    assert gauge.most <= 3
    assert served  # some were admitted
    assert (pool.size(), pool.waiting(), pool.free()) == (0, 0, 3)
    pool.close()


def test_pooled_plain_function_from_threads(client: redis.Redis) -> None:
    gauge = Gauge()
    release = threading.Event()

    @pooled("job-{name}", 2, client=client, timeout=0)
    def job(name: str) -> str:
        gauge.enter()
        release.wait(20)
        gauge.leave()
        return name

    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(job("a"))) for _ in range(2)]
    for thread in threads:
        thread.start()
    until(lambda: job.size("a") == 2)
    assert job("a") is None  # full: not run
    assert job.size("b") == 0  # another key has slots of its own
    release.set()
    for thread in threads:
        thread.join(20)
    assert sorted(results, key=str) == ["a", "a"]
    assert gauge.most == 2
    assert job.size("a") == 0


# ----------------------------------------------------------------------
# asyncio


def test_asyncio_aget_aput_aitem_asize_afree(server: RedisServer) -> None:
    async def main(aclient: Any) -> None:
        async with RedisTokenPool(aclient, "basic", 2) as pool:
            first = await pool.aget()
            async with pool.aitem() as second:
                assert second.id != first.id
                assert (await pool.asize(), await pool.afree()) == (2, 0)
                with pytest.raises(PoolTimeout):
                    await pool.aget(block=False)
            await pool.aput(first)
            assert (await pool.asize(), await pool.afree(), await pool.awaiting()) == (0, 2, 0)
            with pytest.raises(LeaseLost, match="already"):
                await pool.aput(first)
        assert pool.closed

    run(server, main)


def test_asyncio_tasks_wait_in_arrival_order(server: RedisServer) -> None:
    async def main(aclient: Any) -> list[int]:
        pool = RedisTokenPool(aclient, "fifo", 1)
        held = await pool.aget()
        order: list[int] = []

        async def waiter(number: int) -> None:
            async with pool.aitem(timeout=20):
                order.append(number)

        tasks = []
        for number in range(8):
            tasks.append(asyncio.create_task(waiter(number)))
            while await pool.awaiting() != number + 1:  # in line before the next
                await asyncio.sleep(0.002)
        await pool.aput(held)
        await asyncio.gather(*tasks)
        assert (await pool.asize(), await pool.awaiting()) == (0, 0)
        await pool.aclose()
        return order

    assert run(server, main) == list(range(8))


def test_asyncio_cancelled_waiter_leaves_and_a_cancelled_grantee_passes_on(server: RedisServer) -> None:
    async def main(aclient: Any) -> None:
        pool = RedisTokenPool(aclient, "cancel", 1)
        held = await pool.aget()
        # Cancelled while waiting: out of the line.
        task = asyncio.create_task(pool.aget())
        while await pool.awaiting() != 1:
            await asyncio.sleep(0.002)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await pool.awaiting() == 0
        # Granted, then cancelled before it ran: the slot passes on.
        victim = asyncio.create_task(pool.aget())
        while await pool.awaiting() != 1:
            await asyncio.sleep(0.002)
        heir = asyncio.create_task(pool.aget(timeout=20))
        while await pool.awaiting() != 2:
            await asyncio.sleep(0.002)
        real_deliver = pool._deliver

        def deliver_then_cancel(grant: str) -> None:
            real_deliver(grant)  # the victim is granted the slot...
            victim.cancel()  # ...and cancelled before it resumes

        pool._deliver = deliver_then_cancel  # type: ignore[method-assign]
        await pool.aput(held)
        with pytest.raises(asyncio.CancelledError):
            await victim
        token = await heir
        assert await pool.asize() == 1
        with pytest.raises(PoolTimeout):
            await pool.aget(timeout=0.05)  # a timeout leaves the line too
        assert await pool.awaiting() == 0
        await pool.aput(token)
        assert await pool.asize() == 0
        await pool.aclose()

    run(server, main)


def test_asyncio_close_fails_waiters_and_renewals_keep_leases(server: RedisServer) -> None:
    async def main(aclient: Any) -> None:
        pool = RedisTokenPool(aclient, "close", 1, lease=0.3)
        held = await pool.aget()
        first = held.valid_until
        while held.valid_until <= first + 0.3:  # renewed by the service task
            await asyncio.sleep(0.01)
        waiter = asyncio.create_task(pool.aget())
        while await pool.awaiting() != 1:
            await asyncio.sleep(0.002)
        pool.close()  # plain close() works from a task too
        with pytest.raises(PoolClosed):
            await waiter
        while await pool.awaiting():
            await asyncio.sleep(0.002)
        with pytest.raises(PoolClosed):
            await pool.aget()
        await pool.aput(held)
        assert await pool.asize() == 0

    run(server, main)


def test_asyncio_resize_wakes_waiters(server: RedisServer) -> None:
    async def main(aclient: Any) -> None:
        pool = RedisTokenPool(aclient, "resize", 1)
        held = await pool.aget()
        waiters = [asyncio.create_task(pool.aget(timeout=20)) for _ in range(2)]
        while await pool.awaiting() != 2:
            await asyncio.sleep(0.002)
        await pool.aresize(3)
        tokens = await asyncio.gather(*waiters)
        assert await pool.asize() == 3
        for token in [held, *tokens]:
            await pool.aput(token)
        await pool.aclose()

    run(server, main)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_storm_of_tasks_with_cancellations_never_over_admits(server: RedisServer, seed: int) -> None:
    rng = random.Random(seed)

    async def main(aclient: Any) -> None:
        pool = RedisTokenPool(aclient, "storm", 3)
        gauge = Gauge()

        async def worker() -> None:
            for _ in range(5):
                try:
                    async with pool.aitem(timeout=rng.choice([0.0, 0.01, 5.0])):
                        gauge.enter()
                        try:
                            await asyncio.sleep(rng.choice([0, 0.001]))
                        finally:  # (a cancellation lands here too: the holder is out)
                            gauge.leave()
                except PoolTimeout:
                    pass

        tasks = [asyncio.create_task(worker()) for _ in range(200)]
        for _ in range(40):  # cancel some, wherever they are
            await asyncio.sleep(rng.random() * 0.01)
            rng.choice(tasks).cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [r for r in results if not (r is None or isinstance(r, asyncio.CancelledError))] == []
        assert gauge.most <= 3
        while await pool.awaiting():  # cancelled waiters' entries are gone
            await asyncio.sleep(0.005)
        while pool._tasks:  # and the releases of interrupted puts and dropped tokens ran
            await asyncio.wait(list(pool._tasks))
        assert (await pool.asize(), await pool.afree()) == (0, 3)
        await pool.aclose()

    run(server, main)


def test_pooled_async_function(server: RedisServer, client: redis.Redis) -> None:
    async def main(aclient: Any) -> None:
        release = asyncio.Event()
        gauge = Gauge()

        async def busy(name: str) -> str:
            return f"busy {name}"

        @pooled("job-{name}", 2, client=aclient, on_full=busy)
        async def job(name: str) -> str:
            gauge.enter()
            await release.wait()
            gauge.leave()
            return f"done {name}"

        running = [asyncio.create_task(job("a")) for _ in range(2)]
        while await job.asize("a") != 2:
            await asyncio.sleep(0.002)
        assert await job("a") == "busy a"  # full: the async on_full answers
        assert await job.asize("b") == 0
        release.set()
        assert await asyncio.gather(*running) == ["done a", "done a"]
        assert gauge.most == 2
        assert await job.asize("a") == 0

    run(server, main)

    async def async_job() -> None:
        pass

    with pytest.raises(TypeError, match=r"needs a redis\.asyncio\.Redis client"):
        pooled("k", 1, client=client)(async_job)
    aclient = async_client(server)
    with pytest.raises(TypeError, match=r"needs a synchronous redis\.Redis client"):
        pooled("k", 1, client=aclient)(lambda: None)


def test_lost_scripts_are_loaded_again(server: RedisServer, client: redis.Redis) -> None:
    pool = RedisTokenPool(client, "flush", 1, backend="threads")
    client.script_flush()  # as after a restart
    pool.put(pool.get())
    assert pool.size() == 0
    pool.close()
