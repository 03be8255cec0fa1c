"""ConnectionPool and RedisTokenPool in a gevent program: a process
monkey-patched by gevent (tests/gevent_program.py) runs the pools over the
pure-Python drivers and redis-py on the real servers, and checks what it
sees; this test runs it and fails with its output if any check failed.
(Pool, TokenPool, the variants, Proxy and the lifecycle options run on
gevent in the contract suite, in this process, without patching.)"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventlet_pools.redis.testing import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def run_program(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tests.gevent_program", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.mark.timeout(160)
@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_connection_pool_on_gevent_with_real_servers(server: str) -> None:
    out = run_program("dbapi", server)
    assert "through 10 connections" in out, out
    assert "none lost" in out, out


@pytest.mark.timeout(160)
def test_redis_token_pool_on_gevent(redis_server: RedisServer) -> None:
    out = run_program("redis", str(redis_server.port))
    assert "at most" in out, out
