"""eventlet's own tests of eventlet.db_pool, run on eventlet.pools and on ours.

eventlet's ``tests/db_pool_test.py`` (85 tests: RawConnectionPool and
TpooledConnectionPool on MySQL and PostgreSQL, and the pool-only ones) runs
against the installed ``eventlet/db_pool.py`` whose base class is
``eventlet.pools.Pool`` or ``eventlet_pools.Pool``. It runs in a
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
from types import ModuleType

import pg8000.dbapi
import pymysql
import pytest

from tests.compat.conftest import eventlet_source_tests, is_ours

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


@pytest.mark.timeout(900)  # the first run downloads eventlet's sdist
def test_eventlets_db_pool_suite_passes_on_both(pools: ModuleType) -> None:
    source_root = eventlet_source_tests().parent
    env = dict(os.environ, EVENTLET_DB_TEST_AUTH=json.dumps(AUTH))
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), "ours" if is_ours(pools) else "eventlet"],
        cwd=source_root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=600)
    finally:
        process.kill()
        drop_databases(f"test{process.pid}")
    assert process.returncode == 0, err[-4000:]
    report = json.loads(out.strip().splitlines()[-1])
    assert report["pool"] == f"{pools.Pool.__module__}.Pool"
    assert report["failures"] == []
    assert report["skipped"] == []  # the servers are up: nothing may skip
    assert report["run"] >= 85  # 85 in eventlet 0.41
