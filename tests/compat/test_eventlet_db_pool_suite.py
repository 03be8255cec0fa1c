"""eventlet's own tests of eventlet.db_pool, on eventlet.pools, on ours, and of ours.

eventlet's ``tests/db_pool_test.py`` (85 tests: RawConnectionPool and
TpooledConnectionPool on MySQL and PostgreSQL, and the pool-only ones) runs
against the installed ``eventlet/db_pool.py`` whose base class is
``eventlet.pools.Pool`` or ``eventlet_pools.Pool``, and against this
library's :mod:`eventlet_pools.db_pool`. It runs in a
subprocess from the root of eventlet's sdist, whose ``tests`` package
would clash with ours. The drivers are psycopg2 and PyMySQL standing in
for MySQLdb; the servers are this machine's, on loopback. The suite makes
a database ``test<pid>`` on each server and drops it; so does this test,
in case a failure left one behind.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pg8000.dbapi
import pymysql
import pytest

from tests.compat.conftest import eventlet_source_tests

RUNNER = pathlib.Path(__file__).with_name("eventlet_db_pool_suite.py")

AUTH = {
    "MySQLdb": {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""},
    "psycopg2": {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "test"},
}


def drop_databases(name: str) -> None:
    with pymysql.connect(host="127.0.0.1", port=3306, user="root") as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn = pg8000.dbapi.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


WHICH = ("eventlet", "ours", "module")

# A run of the suite: its process, and where its output goes (.out, .err).
Run = tuple[Any, pathlib.Path]


@pytest.fixture(scope="module")
def suite_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """The three runs, started together (each uses databases of its own)."""
    source_root = eventlet_source_tests().parent
    env = dict(os.environ, EVENTLET_DB_TEST_AUTH=json.dumps(AUTH))
    env.pop("PYTHONPATH", None)
    folder = tmp_path_factory.mktemp("db_pool_suite")
    runs = {}
    for which in WHICH:
        with open(folder / f"{which}.out", "w") as out, open(folder / f"{which}.err", "w") as err:
            process = subprocess.Popen(
                [sys.executable, str(RUNNER), which], cwd=source_root, env=env, stdout=out, stderr=err
            )
        runs[which] = (process, folder / which)
    try:
        yield runs
    finally:
        for process, _ in runs.values():
            process.kill()
            process.wait()
            drop_databases(f"test{process.pid}")


@pytest.mark.timeout(900)  # the first run downloads eventlet's sdist
@pytest.mark.parametrize("which", WHICH)
def test_eventlets_db_pool_suite_passes(which: str, suite_runs: dict[str, Run]) -> None:
    process, files = suite_runs[which]
    returncode = process.wait(timeout=600)
    out = files.with_suffix(".out").read_text()
    assert returncode == 0, files.with_suffix(".err").read_text()[-4000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["module"] == (
        "eventlet_pools.db_pool" if which == "module" else f"eventlet_db_pool_on_{which}"
    )
    assert report["pool"] == ("eventlet.pools.Pool" if which == "eventlet" else "eventlet_pools.pool.Pool")
    assert report["failures"] == []
    assert report["skipped"] == []  # the servers are up: nothing may skip
    assert report["run"] >= 85  # 85 in eventlet 0.41
