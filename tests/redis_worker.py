"""A worker process for tests/integration/test_redis_processes.py.

Run as ``python -m tests.redis_worker MODE POOL_PORT MONITOR_PORT [options]``.
It is a separate process using a RedisTokenPool on the pool Redis, and
records what it does in the monitor Redis (another server, which is never
restarted), so the test can check from outside. It is monkey-patched by
eventlet unless ``--runtime=gevent``, ``--runtime=threads`` or
``--runtime=asyncio`` (admission only) makes it use gevent's greenlets (and
patching), OS threads or asyncio tasks instead:

``admission``  G greenthreads (threads, tasks) x N acquisitions, each
               holder counted in and out
``hold``       take K slots, print "held", then sleep until killed
``churn``      acquire/hold/release until the monitor key ``stop`` is set,
               riding out Redis failures (one hold in five is long)
``fifo``       read "wait NAME" lines from stdin; each starts a greenthread
               that waits for a slot and appends NAME to the monitor list
               ``order``; "quit" waits for them and exits
"""

from __future__ import annotations

import sys
import warnings

if "--runtime=gevent" in sys.argv:
    from gevent import monkey

    monkey.patch_all()
elif not {"--runtime=threads", "--runtime=asyncio"} & set(sys.argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import eventlet
        import eventlet.hubs

        eventlet.monkey_patch()

import argparse
import asyncio
import os
import random
import threading
import time
from typing import Any

import redis
import redis.asyncio

from eventlet_pools import BackendError, LeaseLost, PoolTimeout
from eventlet_pools.redis import RedisTokenPool

RUNTIMES = ("eventlet", "gevent", "threads", "asyncio")

# Count a holder in, and keep the highest count seen: atomically.
ENTER = """
local active = redis.call('INCR', KEYS[1])
local most = tonumber(redis.call('GET', KEYS[2]) or '0')
if active > most then redis.call('SET', KEYS[2], active) end
return active
"""


class Monitor:
    """Counts holders in the monitor Redis."""

    def __init__(self, port: int) -> None:
        self.client = redis.Redis(host="127.0.0.1", port=port)
        self._enter = self.client.register_script(ENTER)

    def enter(self) -> None:
        self._enter(keys=["active", "most"])

    def leave(self) -> None:
        self.client.decr("active")


class AsyncMonitor:
    """Monitor for asyncio tasks."""

    def __init__(self, port: int) -> None:
        self.client = redis.asyncio.Redis(host="127.0.0.1", port=port)
        self._enter = self.client.register_script(ENTER)

    async def enter(self) -> None:
        await self._enter(keys=["active", "most"])

    async def leave(self) -> None:
        await self.client.decr("active")


def no_retries(port: int) -> Any:
    return redis.Redis(
        host="127.0.0.1", port=port, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0), socket_timeout=5
    )


def admission_threads(pool: RedisTokenPool, monitor: Monitor, threads: int, cycles: int, hold: float) -> None:
    def worker() -> None:
        for _ in range(cycles):
            with pool.item(timeout=120):
                monitor.enter()
                time.sleep(hold)
                monitor.leave()
            monitor.client.incr("done")

    started = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()


async def admission_tasks(pool_port: int, monitor_port: int, args: Any) -> None:
    client = redis.asyncio.Redis(host="127.0.0.1", port=pool_port, socket_timeout=5)
    monitor = AsyncMonitor(monitor_port)
    pool = RedisTokenPool(client, args.key, args.max_size, lease=args.lease)

    async def worker() -> None:
        for _ in range(args.cycles):
            async with pool.aitem(timeout=120):
                await monitor.enter()
                await asyncio.sleep(args.hold)
                await monitor.leave()
            await monitor.client.incr("done")

    await asyncio.gather(*(worker() for _ in range(args.greenthreads)))
    await pool.aclose()


def admission(pool: RedisTokenPool, monitor: Monitor, greenthreads: int, cycles: int, hold: float) -> None:
    def worker() -> None:
        for _ in range(cycles):
            with pool.item(timeout=120):
                monitor.enter()
                eventlet.sleep(hold)
                monitor.leave()
            monitor.client.incr("done")

    pool_of = eventlet.GreenPool(greenthreads)
    for _ in range(greenthreads):
        pool_of.spawn_n(worker)
    pool_of.waitall()


def hold(pool: RedisTokenPool, slots: int) -> None:
    tokens = [pool.get(timeout=10) for _ in range(slots)]
    print("held", flush=True)
    while tokens:
        eventlet.sleep(60)


def churn(pool: RedisTokenPool, monitor: Monitor, greenthreads: int, hold: float, long_hold: float) -> None:
    rng = random.Random(os.getpid())

    def worker() -> None:
        while not monitor.client.exists("stop"):
            try:
                token = pool.get(timeout=5)
            except (BackendError, PoolTimeout):
                monitor.client.incr("errors")
                eventlet.sleep(0.05)
                continue
            monitor.enter()
            # One hold in five is long, so slots are often held across
            # whatever happens to Redis meanwhile; the test sees how many.
            long = rng.random() < 0.2
            if long:
                monitor.client.incr("long_active")
            eventlet.sleep(long_hold if long else hold)
            if long:
                monitor.client.decr("long_active")
            monitor.leave()
            try:
                pool.put(token)
            except (BackendError, LeaseLost):
                monitor.client.incr("errors")
            monitor.client.incr("cycles")

    pool_of = eventlet.GreenPool(greenthreads)
    for _ in range(greenthreads):
        pool_of.spawn_n(worker)
    pool_of.waitall()


def fifo(pool: RedisTokenPool, monitor: Monitor) -> None:
    waiters = eventlet.GreenPool()

    def waiter(name: str) -> None:
        with pool.item(timeout=30):
            monitor.client.rpush("order", name)
            eventlet.sleep(0.01)

    pending = b""
    done = False
    while not done:
        # stdin is not green: wait for input cooperatively, so the waiters
        # run meanwhile, then read what is there.
        eventlet.hubs.trampoline(sys.stdin.fileno(), read=True)
        chunk = os.read(sys.stdin.fileno(), 4096)
        done = not chunk
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            command, _, name = line.decode().strip().partition(" ")
            if command == "wait":
                waiters.spawn_n(waiter, name)
            elif command == "quit":
                done = True
    waiters.waitall()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["admission", "hold", "churn", "fifo"])
    parser.add_argument("pool_port", type=int)
    parser.add_argument("monitor_port", type=int)
    parser.add_argument("--key", default="shared")
    parser.add_argument("--max-size", type=int, default=3)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--greenthreads", type=int, default=4)
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--hold", type=float, default=0.001)
    parser.add_argument("--slots", type=int, default=1)
    parser.add_argument("--long-hold", type=float, default=0.3)
    parser.add_argument("--runtime", choices=RUNTIMES, default="eventlet")
    args = parser.parse_args()
    if args.runtime != "eventlet" and args.mode != "admission":
        parser.error("only admission runs on threads or asyncio")
    if args.runtime == "asyncio":
        asyncio.run(admission_tasks(args.pool_port, args.monitor_port, args))
        return 0
    pool = RedisTokenPool(
        no_retries(args.pool_port), args.key, args.max_size, lease=args.lease, backend=args.runtime
    )
    monitor = Monitor(args.monitor_port)
    if args.runtime in ("threads", "gevent"):  # (gevent: patched threads are greenlets)
        admission_threads(pool, monitor, args.greenthreads, args.cycles, args.hold)
    elif args.mode == "admission":
        admission(pool, monitor, args.greenthreads, args.cycles, args.hold)
    elif args.mode == "hold":
        hold(pool, args.slots)
    elif args.mode == "churn":
        churn(pool, monitor, args.greenthreads, args.hold, args.long_hold)
    else:
        fifo(pool, monitor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
