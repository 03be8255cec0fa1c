"""The runnable programs that ship with the repo keep running."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_limit_outbound_example_holds_its_cap() -> None:
    ran = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "limit_outbound.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    most, limit = map(int, re.search(r"at most (\d+) in flight \(limit (\d+)\)", ran.stdout).groups())  # type: ignore[union-attr]
    assert 1 <= most <= limit == 5


def test_core_benchmark_smoke_run_reports_strict_fifo() -> None:
    # Speed is not asserted here (benchmarks print it); behaviour is.
    ran = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_core.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    _eventlet_descents, our_descents = map(
        int,
        re.search(r"FIFO descents, 200 waiters\s+(\d+)\s+(\d+)", ran.stdout).groups(),  # type: ignore[union-attr]
    )
    assert our_descents == 0
    assert "ours/eventlet" in ran.stdout


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.+?)\n```", readme)
    assert len(commands) >= 2, "README must open with the demo and the test command"
    demo_command, test_command = commands[0], commands[1]
    assert "eventlet_pools.demo" in demo_command
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci
