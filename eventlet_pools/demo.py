"""A green WSGI server whose handlers share a ConnectionPool.

Run ``python -m eventlet_pools.demo --help`` for the options. The demo starts
an eventlet WSGI server on 127.0.0.1 (a free port), whose handler checks a
database connection out of a :class:`~eventlet_pools.dbapi.ConnectionPool` to
record and read a visit, and takes a :class:`~eventlet_pools.TokenPool` token
around a simulated outbound call. It then fires requests at itself from green
clients, prints progress while they run, and ends with a summary: requests,
errors, the pool size reached, and how long handlers waited for a connection.
It exits 0 when every request succeeded.

The database is sqlite3 (a temporary file) unless ``--dsn`` names a server:
``postgresql://user@host:port/db`` (through pg8000) or
``mysql://user:password@host:port/db`` (through PyMySQL), both made green
with ``eventlet.import_patched``. On a server the demo uses a table of its
own, ``eventlet_pools_demo_visits``, and drops it at the end.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, Optional
from urllib.parse import unquote, urlsplit

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.wsgi
    from eventlet.green.urllib import request as green_request

from eventlet_pools.dbapi import ConnectionPool
from eventlet_pools.token import TokenPool

__all__ = ["Database", "main", "open_database"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

SERVER_TABLE = "eventlet_pools_demo_visits"


class _Quiet:
    """A file-like sink for the WSGI server's access log."""

    def write(self, data: str) -> None:
        """Discard ``data``."""


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


@dataclass
class Database:
    """Where the visits go: how to connect, and the SQL for this server."""

    label: str
    connect: Callable[[], Any]
    table: str
    mark: str  # the driver's parameter placeholder
    drop_table_at_end: bool

    def setup(self) -> None:
        """Create the visits table (and empty it, on a server)."""
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (page INTEGER, at REAL)")
            if self.drop_table_at_end:
                cur.execute(f"DELETE FROM {self.table}")
            conn.commit()
        finally:
            conn.close()

    def teardown(self) -> None:
        """Drop the table the demo made on a server."""
        if not self.drop_table_at_end:
            return
        conn = self.connect()
        try:
            conn.cursor().execute(f"DROP TABLE IF EXISTS {self.table}")
            conn.commit()
        finally:
            conn.close()


def open_database(dsn: Optional[str], db_path: Optional[str]) -> Database:
    """The :class:`Database` for a ``--dsn`` (or a sqlite3 file path).

    Raises:
      ValueError: an unsupported scheme or a DSN without a database name.
    """
    if dsn is None or dsn.startswith("sqlite:"):
        path = db_path if dsn is None else dsn.partition("sqlite:")[2].lstrip("/") or db_path
        if path is None:
            raise ValueError("sqlite needs a file: sqlite:///path/to/file.sqlite3")
        if dsn is not None and dsn.startswith("sqlite:////"):
            path = "/" + path

        def connect_sqlite() -> sqlite3.Connection:
            # One OS thread runs every greenthread, so sharing across them
            # is safe; autocommit, so no write lock is held across a switch.
            return sqlite3.connect(path, check_same_thread=False, isolation_level=None)

        return Database(f"sqlite3 ({path})", connect_sqlite, "visits", "?", False)
    url = urlsplit(dsn)
    database = url.path.lstrip("/")
    if not database:
        raise ValueError(f"the DSN names no database: {dsn!r}")
    kwargs: dict[str, Any] = {
        "host": url.hostname or "127.0.0.1",
        "user": unquote(url.username) if url.username else None,
        "database": database,
    }
    if url.password:
        kwargs["password"] = unquote(url.password)
    if url.scheme in ("postgresql", "postgres"):
        driver = eventlet.import_patched("pg8000")
        kwargs["port"] = url.port or 5432
        kwargs["user"] = kwargs["user"] or "postgres"
    elif url.scheme in ("mysql", "mariadb"):
        driver = eventlet.import_patched("pymysql")
        kwargs["port"] = url.port or 3306
        kwargs["user"] = kwargs["user"] or "root"
    else:
        raise ValueError(f"unsupported DSN scheme {url.scheme!r}: use postgresql://, mysql:// or sqlite://")

    def connect_server() -> Any:
        return driver.connect(**kwargs)

    label = f"{url.scheme}://{kwargs['host']}:{kwargs['port']}/{database}"
    return Database(label, connect_server, SERVER_TABLE, "%s", True)


class Demo:
    """The server side: pools, the WSGI app, and what it measured."""

    def __init__(self, database: Database, pool_size: int, outbound_limit: int, work_ms: float) -> None:
        self.database = database
        self.work_s = work_ms / 1000.0
        database.setup()
        self.connections = ConnectionPool(database.connect, max_size=pool_size, timeout=30)
        self.outbound = TokenPool(max_size=outbound_limit)
        self.waits: list[float] = []
        self.size_reached = 0

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application: record a visit, read the count, call 'out'."""
        page = int(environ.get("PATH_INFO", "/0").strip("/") or 0)
        table, mark = self.database.table, self.database.mark
        asked = time.monotonic()
        with self.connections.connection() as conn:
            self.waits.append(time.monotonic() - asked)
            self.size_reached = max(self.size_reached, self.connections.pool.current_size)
            cur = conn.cursor()
            cur.execute(f"INSERT INTO {table} VALUES ({mark}, {mark})", (page, time.time()))
            conn.commit()
            eventlet.sleep(self.work_s)  # the query's latency, spent cooperatively
            cur.execute(f"SELECT COUNT(*) FROM {table} WHERE page = {mark}", (page,))
            (count,) = cur.fetchone()
        with self.outbound.item():
            eventlet.sleep(self.work_s)  # a call to another service
        body = f"page {page} seen {count} times\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]


def run(
    requests: int,
    concurrency: int,
    pool_size: int,
    outbound_limit: int,
    work_ms: float,
    db_path: Optional[str] = None,
    out: Any = sys.stdout,
    dsn: Optional[str] = None,
    metrics: bool = False,
) -> int:
    """Serve, load, and report; returns the process exit status. With
    ``metrics``, both pools report OpenTelemetry metrics
    (:mod:`eventlet_pools.otel`) and the summary prints them."""
    own_dir = None
    if db_path is None and dsn is None:
        own_dir = tempfile.mkdtemp(prefix="eventlet_pools_demo_")
        db_path = os.path.join(own_dir, "demo.sqlite3")
    database = open_database(dsn, db_path)
    demo = Demo(database, pool_size, outbound_limit, work_ms)
    reader = _instrument(demo) if metrics else None
    sock = eventlet.listen(("127.0.0.1", 0), backlog=max(128, concurrency * 2))
    port = sock.getsockname()[1]
    server = eventlet.spawn(eventlet.wsgi.server, sock, demo.app, log=_Quiet(), log_output=False)
    print(
        f"serving on http://127.0.0.1:{port}/ with a pool of {pool_size} connections to "
        f"{database.label}; {requests} requests, {concurrency} at a time",
        file=out,
    )

    done = errors = 0
    step = max(1, requests // 10)
    first_error: Optional[str] = None

    def fetch(index: int) -> None:
        nonlocal done, errors, first_error
        try:
            url = f"http://127.0.0.1:{port}/{index % 20}"
            with green_request.urlopen(url, timeout=30) as response:
                if response.status != 200 or b"seen" not in response.read():
                    raise RuntimeError(f"bad response {response.status}")
        except Exception as exc:  # the summary counts and shows it
            errors += 1
            first_error = first_error or repr(exc)
        done += 1
        if done % step == 0 or done == requests:
            pool = demo.connections
            print(
                f"progress: {done}/{requests} requests, {pool.max_size - pool.free()} "
                f"connections in use, {pool.waiting()} handlers waiting",
                file=out,
            )

    started = time.monotonic()
    clients = eventlet.GreenPool(concurrency)
    for index in range(requests):
        clients.spawn_n(fetch, index)
    clients.waitall()
    elapsed = time.monotonic() - started
    # Read before the pools close (a closed pool's items are gone).
    metric_lines = _metric_lines(reader) if reader is not None else []
    server.kill()
    sock.close()
    demo.connections.close()
    demo.outbound.close()
    database.teardown()

    waits = sorted(demo.waits)
    print("summary:", file=out)
    print(f"  requests: {done} in {elapsed:.2f} s ({done / elapsed:.0f}/s)", file=out)
    print(f"  errors: {errors}" + (f" (first: {first_error})" if first_error else ""), file=out)
    print(f"  pool size reached: {demo.size_reached} of {pool_size}", file=out)
    print(
        f"  wait for a connection: p50 {_percentile(waits, 0.5) * 1e3:.2f} ms, "
        f"p99 {_percentile(waits, 0.99) * 1e3:.2f} ms",
        file=out,
    )
    if metric_lines:
        print("metrics (OpenTelemetry, db.client.connection.*):", file=out)
        for line in metric_lines:
            print(f"  {line}", file=out)
    if own_dir is not None and db_path is not None:
        os.remove(db_path)
        os.rmdir(own_dir)
    return 0 if errors == 0 and done == requests else 1


def _instrument(demo: Demo) -> Any:
    # Both pools report to a meter provider of their own, read on demand.
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from eventlet_pools import otel

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    otel.instrument(demo.connections, provider, name="demo-db")
    otel.instrument(demo.outbound, provider, name="demo-outbound")
    return reader


def _metric_lines(reader: Any) -> list[str]:
    # One line per data point: name{attributes} value, or a histogram's
    # count, sum and max.
    lines = []
    data = reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            if scope.scope.name != "eventlet_pools":
                continue  # (some SDK versions report metrics of their own)
            for metric in scope.metrics:
                short = metric.name.removeprefix("db.client.connection.")
                for point in metric.data.data_points:
                    labels = ",".join(
                        f"{key.removeprefix('db.client.connection.')}={value}"
                        for key, value in sorted(point.attributes.items())
                    )
                    if hasattr(point, "value"):
                        shown = str(point.value)
                    else:
                        shown = f"count={point.count} sum={point.sum:.4f}s max={point.max:.4f}s"
                    lines.append(f"{short}{{{labels}}} {shown}")
    return lines


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: Optional[list[str]] = None) -> int:
    """Parse the command line and run the demo."""
    parser = argparse.ArgumentParser(
        prog="python -m eventlet_pools.demo",
        description="Serve a green WSGI app backed by a ConnectionPool (sqlite3, PostgreSQL or MariaDB), "
        "load it with concurrent green clients, and report how the pool behaved.",
    )
    parser.add_argument("--requests", type=_positive, default=400, help="requests to send (default 400)")
    parser.add_argument(
        "--concurrency", type=_positive, default=100, help="requests in flight at once (default 100)"
    )
    parser.add_argument(
        "--pool-size", type=_positive, default=5, help="max connections in the pool (default 5)"
    )
    parser.add_argument(
        "--outbound-limit",
        type=_positive,
        default=10,
        help="TokenPool size: outbound calls in flight at once (default 10)",
    )
    parser.add_argument(
        "--work-ms",
        type=float,
        default=2.0,
        help="simulated latency of each query and outbound call (default 2)",
    )
    parser.add_argument(
        "--db", default=None, help="sqlite3 file to use (default: a temporary file, removed after)"
    )
    parser.add_argument(
        "--dsn",
        default=None,
        help="database to use instead of sqlite3: postgresql://user@host:port/db or "
        "mysql://user:password@host:port/db (the demo makes and drops its own table)",
    )
    parser.add_argument(
        "--otel",
        action="store_true",
        help="report both pools' OpenTelemetry metrics (db.client.connection.*) and print them "
        "(needs the extra otel: pip install 'eventlet_pools[otel]')",
    )
    args = parser.parse_args(argv)
    if args.otel:
        try:
            import opentelemetry.sdk.metrics  # noqa: F401
        except ImportError:
            parser.error("--otel needs the OpenTelemetry SDK: pip install 'eventlet_pools[otel]'")
    if args.dsn is not None and args.db is not None:
        parser.error("give --db (a sqlite3 file) or --dsn, not both")
    try:
        open_database(args.dsn, args.db or "unused")
    except ValueError as exc:
        parser.error(str(exc))
    return run(
        args.requests,
        args.concurrency,
        args.pool_size,
        args.outbound_limit,
        args.work_ms,
        args.db,
        dsn=args.dsn,
        metrics=args.otel,
    )


if __name__ == "__main__":
    sys.exit(main())
