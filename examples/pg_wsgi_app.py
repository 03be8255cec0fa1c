"""A green WSGI app on PostgreSQL with a ConnectionPool.

Run: python examples/pg_wsgi_app.py [postgresql://user@host:port/db]
     (default postgresql://postgres@127.0.0.1:5432/test)

The whole program is made green by ``eventlet.monkey_patch()``, which turns
the pure-Python driver pg8000 cooperative: while one handler waits for the
server, the others run. Every request checks a connection out of one
``ConnectionPool`` of 5, adds a note and counts the notes, each query taking
20 ms on the server (``pg_sleep``). 100 requests from 50 green clients
finish in well under a second, instead of the 4 s that one connection at a
time would take. The app uses a table of its own,
``eventlet_pools_example_notes``, and drops it when done.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

    eventlet.monkey_patch()  # first, before anything imports socket
    import eventlet.wsgi

import sys
import time
import urllib.request
from collections.abc import Iterable
from typing import Any, Callable
from urllib.parse import urlsplit

import pg8000

from eventlet_pools.dbapi import ConnectionPool

TABLE = "eventlet_pools_example_notes"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Quiet:
    def write(self, data: str) -> None:
        """Discard the access log."""


def make_app(pool: ConnectionPool) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        with pool.connection() as conn:
            cur = conn.cursor()
            cur.execute(f"INSERT INTO {TABLE} (body) SELECT %s FROM pg_sleep(0.01)", (environ["PATH_INFO"],))
            conn.commit()
            cur.execute(f"SELECT count(*) FROM {TABLE}, pg_sleep(0.01)")
            (count,) = cur.fetchone()
        body = f"{count} notes\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def main(argv: list[str]) -> int:
    url = urlsplit(argv[0] if argv else "postgresql://postgres@127.0.0.1:5432/test")

    def connect() -> Any:
        return pg8000.connect(
            user=url.username or "postgres",
            password=url.password,
            host=url.hostname or "127.0.0.1",
            port=url.port or 5432,
            database=url.path.lstrip("/") or "test",
        )

    pool = ConnectionPool(connect, max_size=5, timeout=10)
    with pool.connection() as conn:
        conn.cursor().execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id serial PRIMARY KEY, body text)")
        conn.commit()
    sock = eventlet.listen(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = eventlet.spawn(eventlet.wsgi.server, sock, make_app(pool), log=_Quiet(), log_output=False)
    errors = 0

    def client(n: int) -> None:
        nonlocal errors
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/note-{n}", timeout=30) as response:
                if not response.read().endswith(b"notes\n"):
                    errors += 1
        except Exception as exc:
            errors += 1
            print(f"request {n} failed: {exc!r}")

    started = time.monotonic()
    clients = eventlet.GreenPool(50)
    for n in range(100):
        clients.spawn_n(client, n)
    clients.waitall()
    elapsed = time.monotonic() - started
    stats = pool.stats()
    with pool.connection() as conn:
        conn.cursor().execute(f"DROP TABLE {TABLE}")
        conn.commit()
    server.kill()
    pool.close()
    print(f"100 requests in {elapsed:.2f} s, {errors} errors")
    print(f"connections opened: {stats.created} (max_size 5), longest wait {stats.wait_max or 0:.3f} s")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
