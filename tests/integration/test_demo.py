"""The demo runs end to end: a real green WSGI server on loopback, real
sqlite3 connections, real green HTTP clients."""

from __future__ import annotations

import io
import re
import subprocess
import sys

import pytest

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


def test_demo_prints_the_pools_opentelemetry_metrics() -> None:
    out = io.StringIO()
    assert demo.main(["--requests", "60", "--concurrency", "20", "--pool-size", "3", "--otel"]) == 0
    status = demo.run(60, 20, 3, 4, 0.5, out=out, metrics=True)
    text = out.getvalue()
    assert status == 0, text
    assert "metrics (OpenTelemetry, db.client.connection.*):" in text
    # Every request checked a connection and a token out and back in.
    for pool in ("demo-db", "demo-outbound"):
        assert f"wait_time{{pool.name={pool}}} count=60 " in text
        assert f"use_time{{pool.name={pool}}} count=60 " in text
        assert f"count{{pool.name={pool},state=used}} 0" in text
        assert f"timeouts{{pool.name={pool}}} 0" in text
    assert "max{pool.name=demo-db} 3" in text
    created = int(re.search(r"create_time\{pool.name=demo-db\} count=(\d+)", text).group(1))  # type: ignore[union-attr]
    assert 1 <= created <= 3


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


@pytest.mark.parametrize(
    ("dsn", "tables_sql"),
    [
        (
            "postgresql://postgres@127.0.0.1:5432/test",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'eventlet_pools_demo_visits'",
        ),
        (
            "mysql://root@127.0.0.1:3306/test",
            "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_NAME = 'eventlet_pools_demo_visits'",
        ),
    ],
    ids=["postgresql", "mariadb"],
)
def test_demo_runs_on_a_database_server_and_drops_its_table(dsn: str, tables_sql: str) -> None:
    out = io.StringIO()
    assert demo.run(80, 20, 3, 4, 1.0, out=out, dsn=dsn) == 0, out.getvalue()
    text = out.getvalue()
    assert "errors: 0" in text
    assert dsn.split("@")[1] in text  # the summary names the server it used
    check = demo.open_database(dsn, None).connect()
    try:
        cur = check.cursor()
        cur.execute(tables_sql)
        assert cur.fetchone()[0] == 0
    finally:
        check.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dsn", "redis://127.0.0.1/0"], "unsupported DSN scheme"),
        (["--dsn", "postgresql://127.0.0.1"], "names no database"),
        (["--dsn", "sqlite:///x.db", "--db", "y.db"], "not both"),
    ],
)
def test_demo_refuses_bad_dsns(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        demo.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
