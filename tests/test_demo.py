"""The demo runs end to end: a real green WSGI server on loopback, real
sqlite3 connections, real green HTTP clients."""

from __future__ import annotations

import io
import re
import subprocess
import sys

from eventlet_pools import demo


def test_demo_serves_every_request_within_the_pool_size(tmp_path: object) -> None:
    out = io.StringIO()
    status = demo.run(requests=120, concurrency=40, pool_size=3, outbound_limit=4, work_ms=1.0, out=out)
    text = out.getvalue()
    assert status == 0, text
    assert "requests: 120 in" in text
    assert "errors: 0" in text
    reached = int(re.search(r"pool size reached: (\d+) of 3", text).group(1))  # type: ignore[union-attr]
    assert 1 <= reached <= 3
    assert text.count("progress:") >= 10
    assert re.search(r"p50 [\d.]+ ms, p99 [\d.]+ ms", text)


def test_demo_keeps_visits_in_the_given_database(tmp_path: object) -> None:
    import pathlib
    import sqlite3

    db = pathlib.Path(str(tmp_path)) / "visits.sqlite3"
    assert demo.run(40, 10, 2, 2, 0.5, db_path=str(db), out=io.StringIO()) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM visits").fetchone() == (40,)


def test_demo_module_help_and_bad_options() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "eventlet_pools.demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in ("--requests", "--concurrency", "--pool-size"):
        assert option in shown.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "eventlet_pools.demo", "--pool-size", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "must be >= 1" in bad.stderr


def test_demo_module_runs_clean_as_a_program() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "eventlet_pools.demo", "--requests", "50", "--concurrency", "20"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "errors: 0" in ran.stdout
    assert "deprecated" not in ran.stderr
