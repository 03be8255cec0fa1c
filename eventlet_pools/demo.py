"""A green WSGI server whose handlers share a Pool of sqlite3 connections.

Run ``python -m eventlet_pools.demo --help`` for the options. The demo starts
an eventlet WSGI server on 127.0.0.1 (a free port), whose handler checks a
sqlite3 connection out of a :class:`~eventlet_pools.Pool` to record and read
a visit, and takes a :class:`~eventlet_pools.TokenPool` token around a
simulated outbound call. It then fires requests at itself from green
clients, prints progress while they run, and ends with a summary: requests,
errors, the pool size reached, and how long handlers waited for a connection.
It exits 0 when every request succeeded.
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
from typing import Any, Callable, Optional

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.wsgi
    from eventlet.green.urllib import request as green_request

from eventlet_pools.pool import Pool
from eventlet_pools.token import TokenPool

__all__ = ["main"]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Quiet:
    """A file-like sink for the WSGI server's access log."""

    def write(self, data: str) -> None:
        """Discard ``data``."""


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


class Demo:
    """The server side: pools, the WSGI app, and what it measured."""

    def __init__(self, db_path: str, pool_size: int, outbound_limit: int, work_ms: float) -> None:
        self.db_path = db_path
        self.work_s = work_ms / 1000.0
        with sqlite3.connect(db_path) as setup:
            setup.execute("CREATE TABLE IF NOT EXISTS visits (page INTEGER, at REAL)")
        self.connections: Pool[sqlite3.Connection] = Pool(
            max_size=pool_size, create=self._connect, dispose=lambda conn: conn.close(), timeout=30
        )
        self.outbound = TokenPool(max_size=outbound_limit)
        self.waits: list[float] = []
        self.size_reached = 0

    def _connect(self) -> sqlite3.Connection:
        # One OS thread runs every greenthread, so sharing across them is safe.
        return sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application: record a visit, read the count, call 'out'."""
        page = int(environ.get("PATH_INFO", "/0").strip("/") or 0)
        asked = time.monotonic()
        with self.connections.item() as conn:
            self.waits.append(time.monotonic() - asked)
            self.size_reached = max(self.size_reached, self.connections.current_size)
            conn.execute("INSERT INTO visits VALUES (?, ?)", (page, time.time()))
            eventlet.sleep(self.work_s)  # the query's latency, spent cooperatively
            (count,) = conn.execute("SELECT COUNT(*) FROM visits WHERE page = ?", (page,)).fetchone()
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
) -> int:
    """Serve, load, and report; returns the process exit status."""
    own_dir = None
    if db_path is None:
        own_dir = tempfile.mkdtemp(prefix="eventlet_pools_demo_")
        db_path = os.path.join(own_dir, "demo.sqlite3")
    demo = Demo(db_path, pool_size, outbound_limit, work_ms)
    sock = eventlet.listen(("127.0.0.1", 0), backlog=max(128, concurrency * 2))
    port = sock.getsockname()[1]
    server = eventlet.spawn(eventlet.wsgi.server, sock, demo.app, log=_Quiet(), log_output=False)
    print(
        f"serving on http://127.0.0.1:{port}/ with a pool of {pool_size} sqlite3 "
        f"connections ({db_path}); {requests} requests, {concurrency} at a time",
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
    server.kill()
    sock.close()
    demo.connections.close()
    demo.outbound.close()

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
    if own_dir is not None:
        os.remove(db_path)
        os.rmdir(own_dir)
    return 0 if errors == 0 and done == requests else 1


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv: Optional[list[str]] = None) -> int:
    """Parse the command line and run the demo."""
    parser = argparse.ArgumentParser(
        prog="python -m eventlet_pools.demo",
        description="Serve a green WSGI app backed by a Pool of sqlite3 connections, "
        "load it with concurrent green clients, and report how the pool behaved.",
    )
    parser.add_argument("--requests", type=_positive, default=400, help="requests to send (default 400)")
    parser.add_argument(
        "--concurrency", type=_positive, default=100, help="requests in flight at once (default 100)"
    )
    parser.add_argument(
        "--pool-size", type=_positive, default=5, help="max sqlite3 connections in the pool (default 5)"
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
    args = parser.parse_args(argv)
    return run(args.requests, args.concurrency, args.pool_size, args.outbound_limit, args.work_ms, args.db)


if __name__ == "__main__":
    sys.exit(main())
