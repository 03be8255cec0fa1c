"""RedisTokenPool across processes: no over-admission, crashed holders,
a Redis restart mid-run, and FIFO order across two processes.

Each test starts its own redis-server for the pool, and a second one (never
restarted) where the worker processes (tests/redis_worker.py) count holders
in and out, so concurrency is measured from outside the pool.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from eventlet_pools.redis import RedisTokenPool
from eventlet_pools.redis.testing import RedisServer

ROOT = Path(__file__).resolve().parents[2]
green_redis: Any = eventlet.import_patched("redis")


@pytest.fixture
def servers() -> Iterator[tuple[RedisServer, RedisServer]]:
    """(pool Redis, monitor Redis), both our own."""
    with RedisServer() as pool_server, RedisServer() as monitor_server:
        yield pool_server, monitor_server


def client_of(server: RedisServer) -> Any:
    return green_redis.Redis(
        host=server.host, port=server.port, retry=green_redis.retry.Retry(green_redis.backoff.NoBackoff(), 0)
    )


def worker(mode: str, servers: tuple[RedisServer, RedisServer], *options: str, **popen: Any) -> Any:
    pool_server, monitor_server = servers
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.redis_worker",
            mode,
            str(pool_server.port),
            str(monitor_server.port),
            *options,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        **popen,
    )


def wait_for(predicate: Any, seconds: float, what: str) -> None:
    """Poll state another process changes, up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        eventlet.sleep(0.01)


def finish(processes: list[Any], seconds: float = 60) -> None:
    for process in processes:
        assert process.wait(seconds) == 0, f"worker exited with {process.returncode}"


@pytest.mark.parametrize("mixed", [False, True], ids=["eventlet", "eventlet+gevent+threads+asyncio"])
def test_eight_processes_never_over_admit(servers: tuple[RedisServer, RedisServer], mixed: bool) -> None:
    # Mixed: one pool key shared by processes on all four runtimes.
    runtimes = ["eventlet", "gevent", "threads", "asyncio"] * 2 if mixed else ["eventlet"] * 8
    monitor = client_of(servers[1])
    processes = [
        worker(
            "admission",
            servers,
            "--max-size",
            "3",
            "--greenthreads",
            "4",
            "--cycles",
            "50",
            f"--runtime={runtime}",
        )
        for runtime in runtimes
    ]
    finish(processes, 120)
    assert int(monitor.get("done")) == 8 * 200  # every acquisition completed
    most = int(monitor.get("most"))
    assert 2 <= most <= 3, most  # contended, and never above max_size
    assert int(monitor.get("active")) == 0
    pool = RedisTokenPool(client_of(servers[0]), "shared", 3)
    assert pool.size() == 0
    assert pool.waiting() == 0


def test_slots_of_a_killed_process_come_back_within_a_lease(servers: tuple[RedisServer, RedisServer]) -> None:
    lease = 1.0
    holder = worker(
        "hold", servers, "--max-size", "2", "--lease", str(lease), "--slots", "2", stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"held"
        pool = RedisTokenPool(client_of(servers[0]), "shared", 2, lease=lease)
        assert pool.free() == 0
        # Renewals keep them held for longer than a lease...
        eventlet.sleep(lease * 1.5)
        assert pool.size() == 2
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    killed = time.monotonic()
    with eventlet.Timeout(10):
        tokens = [pool.get(timeout=5), pool.get(timeout=5)]
    elapsed = time.monotonic() - killed
    # ...and, once the process is gone, back within lease + one renewal
    # interval (lease / 3), with a little slack for this machine.
    assert elapsed <= lease + lease / 3 + 0.5, elapsed
    for token in tokens:
        pool.put(token)
    pool.close()


def test_redis_restart_mid_run_loses_nothing_and_admits_no_one_too_many(
    servers: tuple[RedisServer, RedisServer],
) -> None:
    pool_server, monitor_server = servers
    monitor = client_of(monitor_server)
    processes = [
        worker(
            "churn", servers, "--max-size", "3", "--lease", "1.0", "--greenthreads", "2", "--hold", "0.005"
        )
        for _ in range(4)
    ]
    try:
        wait_for(lambda: int(monitor.get("cycles") or 0) >= 60, 60, "60 cycles before the restart")
        # Sequence point: slots are held (long holds among them) when Redis
        # dies and comes back empty, so newcomers must not be admitted
        # while those holders still run.
        wait_for(
            lambda: int(monitor.get("active") or 0) == 3 and int(monitor.get("long_active") or 0) >= 2,
            30,
            "all three slots held, two of them for long",
        )
        run_id = client_of(pool_server).info("server")["run_id"]
        pool_server.restart()
        assert client_of(pool_server).info("server")["run_id"] != run_id  # a new server, empty
        before = int(monitor.get("cycles") or 0)
        wait_for(lambda: int(monitor.get("cycles") or 0) >= before + 100, 60, "100 cycles after the restart")
    finally:
        monitor.set("stop", 1)
        finish(processes)
    # (The workers may or may not have had a call fail while the server was
    # down: a quick restart can fall between their calls. What must hold
    # either way is below.)
    assert int(monitor.get("most")) <= 3
    assert int(monitor.get("active")) == 0
    pool = RedisTokenPool(client_of(pool_server), "shared", 3, lease=1.0)
    assert pool.size() == 0
    assert pool.waiting() == 0
    assert pool.free() == 3  # capacity whole again
    pool.close()


def test_fifo_across_two_processes(servers: tuple[RedisServer, RedisServer]) -> None:
    monitor = client_of(servers[1])
    pool = RedisTokenPool(client_of(servers[0]), "shared", 1)
    held = pool.get()
    other = worker("fifo", servers, "--max-size", "1", stdin=subprocess.PIPE)
    local: list[Any] = []

    def local_waiter(name: str) -> None:
        with pool.item(timeout=30):
            monitor.rpush("order", name)
            eventlet.sleep(0.01)

    arrival = []
    try:
        for n in range(8):
            name = f"{'other' if n % 2 == 0 else 'here'}-{n}"
            if n % 2 == 0:
                other.stdin.write(f"wait {name}\n".encode())
                other.stdin.flush()
            else:
                local.append(eventlet.spawn(local_waiter, name))
            arrival.append(name)
            # Sequence point: this waiter is in line before the next comes.
            wait_for(lambda n=n: pool.waiting() == n + 1, 30, f"waiter {name} in line")
        pool.put(held)
        for gt in local:
            gt.wait()
        wait_for(lambda: monitor.llen("order") == 8, 30, "every waiter served")
    finally:
        other.stdin.write(b"quit\n")
        other.stdin.close()
        finish([other])
    assert [name.decode() for name in monitor.lrange("order", 0, -1)] == arrival
    pool.close()
