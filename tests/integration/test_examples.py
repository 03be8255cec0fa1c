"""The runnable programs that ship with the repo keep running."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from tests.tiny_memcache import TinyMemcache

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_script(script: str, *args: str, timeout: float = 300) -> str:
    """Run a script of the repo (``"benchmarks/bench_core.py"``) and return
    what it printed; it must exit 0."""
    ran = subprocess.run(
        [sys.executable, str(ROOT / script), *args], capture_output=True, text=True, timeout=timeout
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout


def ours_column(label: str, printed: str) -> int:
    """Our figure (the second number) on the table row starting with ``label``."""
    found = re.search(rf"{re.escape(label)}\s+(\d+)\s+(\d+)", printed)
    assert found is not None, (label, printed)
    return int(found.group(2))


def test_limit_outbound_example_holds_its_cap() -> None:
    printed = run_script("examples/limit_outbound.py", timeout=120)
    most, limit = map(int, re.search(r"at most (\d+) in flight \(limit (\d+)\)", printed).groups())  # type: ignore[union-attr]
    assert 1 <= most <= limit == 5


def test_core_benchmark_smoke_run_reports_strict_fifo() -> None:
    # Speed is not asserted here (benchmarks print it); behaviour is.
    printed = run_script("benchmarks/bench_core.py", "--quick")
    assert ours_column("FIFO descents, 200 waiters", printed) == 0
    assert "ours/eventlet" in printed


def test_gevent_benchmark_smoke_run_reports_strict_fifo() -> None:
    printed = run_script("benchmarks/bench_gevent.py", "--quick")
    # The row's columns: Queue, BoundedSemaphore, ours.
    found = re.search(r"FIFO descents, 200 queued\s+(\d+)\s+(\d+)\s+(\d+)", printed)
    assert found is not None, printed
    assert int(found.group(3)) == 0
    assert "ours/Queue" in printed


def test_workers_benchmark_smoke_run_prints_every_row() -> None:
    printed = run_script("benchmarks/bench_workers.py", "--quick")
    assert printed.count("x GreenPool(100)") == 4
    assert printed.count("x ThreadPoolExecutor(16)") == 2
    assert printed.count("x run_in_executor(ThreadPoolExecutor(16))") == 1


def test_run_all_writes_a_table_per_benchmark(tmp_path: pathlib.Path) -> None:
    printed = run_script(
        "benchmarks/run_all.py", "--quick", "--runs", "2", "--only", "core", "--out", str(tmp_path)
    )
    assert "bench_core.py: run 2 of 2" in printed
    written = (tmp_path / "core.md").read_text()
    assert "2 run(s) on" in written
    row = next(line for line in written.splitlines() if line.startswith("| uncontended get+put, time |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1:3] == ["eventlet.pools", "lower"]
    assert re.fullmatch(r"\d+\.\d\dx( to \d+\.\d\dx)?", cells[3])
    assert cells[5] == "≤ 0.60x"
    assert re.fullmatch(r"[012] of 2", cells[6])
    fifo = next(line for line in written.splitlines() if line.startswith("| FIFO descents"))
    assert "| 0 (" in fifo  # ours never, the peer's count in brackets


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.+?)\n```", readme)
    assert len(commands) >= 2, "README must open with the demo and the test command"
    demo_command, test_command = commands[0], commands[1]
    assert "eventlet_pools.demo" in demo_command
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci


def test_pg_wsgi_app_example_serves_on_five_connections() -> None:
    printed = run_script("examples/pg_wsgi_app.py", timeout=120)
    assert "100 requests in" in printed
    assert ", 0 errors" in printed
    opened = int(re.search(r"connections opened: (\d+)", printed).group(1))  # type: ignore[union-attr]
    assert 1 <= opened <= 5


def load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_memcache_pool_example_against_a_tiny_green_server(capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("memcache_pool")
    server = TinyMemcache()
    try:
        host, port = server.address
        assert example.main([f"{host}:{port}"]) == 0
        out = capsys.readouterr().out
        assert "0 wrong" in out
        assert server.accepted <= 4
        # Once the pool is closed every connection it opened is closed too
        # (the server's handlers see it when they next read: wait for them).
        with eventlet.Timeout(5):
            while server.open:
                eventlet.sleep(0.005)
        # A restart drops the pool's connections: check() notices on the
        # next checkout and the pool opens a new one.
        pool = example.MemcachePool(server.address, max_size=1)
        with pool.item() as conn:
            conn.set("k", b"v")
        server.drop_all()
        with pool.item() as conn:
            assert conn.get("k") == b"v"
        assert pool.stats().disposed["check_failed"] == 1
        pool.close()
    finally:
        server.close()


def test_dbapi_benchmark_smoke_run_reports_strict_fifo() -> None:
    printed = run_script("benchmarks/bench_dbapi.py", "--quick")
    assert ours_column("FIFO descents", printed) == 0
    assert "ours/eventlet" in printed


def test_redis_benchmark_smoke_run_reports_one_round_trip_each() -> None:
    printed = run_script("benchmarks/bench_redis.py", "--quick")
    assert "ours: 1 round trip(s) per acquire, 1 per release" in printed
    assert "ours/theirs" in printed


def test_backends_benchmark_smoke_run_reports_fifo() -> None:
    printed = run_script("benchmarks/bench_backends.py", "--quick")
    assert ours_column("FIFO descents, 40 queued threads", printed) == 0
    assert ours_column("FIFO descents, 200 queued tasks", printed) == 0
    assert "ours/theirs" in printed


def test_asyncio_benchmark_smoke_run_reports_strict_fifo() -> None:
    printed = run_script("benchmarks/bench_asyncio.py", "--quick")
    descents = printed.split("FIFO descents, 200 queued tasks", 1)[1].split()
    assert descents[descents.index("ours") + 1] == "0"
    assert "ours / Semaphore+list" in printed


def test_threads_postgresql_benchmark_smoke_run() -> None:
    # Against the real PostgreSQL server (the suite's servers are up).
    printed = run_script("benchmarks/bench_threads_pg.py", "--quick")
    assert "ours/psycopg_pool cycles/s per round" in printed
