"""A Pool subclass holding memcached-style text-protocol socket connections.

Run: python examples/memcache_pool.py [HOST:PORT]   (default 127.0.0.1:11211)

``MemcachePool`` shows the three methods a connection pool subclass fills
in: ``create()`` opens a socket, ``check()`` pings it (``version``) before
a connection that sat idle is handed out again, and ``dispose()`` closes it.
The sockets are eventlet's green sockets, so many greenthreads share a few
connections without blocking each other. Run as a program, it sets and
reads back 200 keys from 50 greenthreads over a pool of 4 connections and
prints what it did.
"""

from __future__ import annotations

import sys
import warnings
from typing import Optional

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet.green import socket

import eventlet_pools as pools


class MemcacheError(Exception):
    """The server answered something the protocol does not allow here."""


class MemcacheConnection:
    """One connection speaking the memcached text protocol (get/set/version)."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def _line(self) -> bytes:
        line = bytes(self.reader.readline())
        if not line.endswith(b"\r\n"):
            raise ConnectionError("the server closed the connection")
        return line[:-2]

    def version(self) -> str:
        """Ask the server's version: the cheapest round trip there is."""
        self.sock.sendall(b"version\r\n")
        reply = self._line()
        if not reply.startswith(b"VERSION "):
            raise MemcacheError(f"unexpected reply to version: {reply!r}")
        return reply[8:].decode()

    def set(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key``."""
        self.sock.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(value), value))
        reply = self._line()
        if reply != b"STORED":
            raise MemcacheError(f"unexpected reply to set: {reply!r}")

    def get(self, key: str) -> Optional[bytes]:
        """The value stored under ``key``, or None."""
        self.sock.sendall(b"get %s\r\n" % key.encode())
        header = self._line()
        if header == b"END":
            return None
        parts = header.split()
        if len(parts) != 4 or parts[0] != b"VALUE":
            raise MemcacheError(f"unexpected reply to get: {header!r}")
        value = bytes(self.reader.read(int(parts[3]) + 2)[:-2])
        if self._line() != b"END":
            raise MemcacheError("missing END after the value")
        return value

    def close(self) -> None:
        """Close the socket."""
        self.reader.close()
        self.sock.close()


class MemcachePool(pools.Pool[MemcacheConnection]):
    """Connections to one memcached server, pinged when they were idle."""

    def __init__(self, address: tuple[str, int], max_size: int = 4, **options: object) -> None:
        self.address = address
        # check= is a Pool option: wire our own check() method into it.
        super().__init__(max_size=max_size, check=self.check, **options)  # type: ignore[arg-type]

    def create(self) -> MemcacheConnection:
        """Open a new connection."""
        return MemcacheConnection(self.address)

    def check(self, conn: MemcacheConnection) -> bool:
        """Ping before reuse: a connection the server dropped fails here."""
        conn.version()
        return True

    def dispose(self, conn: MemcacheConnection) -> None:
        """Close a connection the pool drops."""
        conn.close()


def main(argv: list[str]) -> int:
    host, _, port = (argv[0] if argv else "127.0.0.1:11211").rpartition(":")
    pool = MemcachePool((host, int(port)), max_size=4, timeout=10)
    errors = 0

    def worker(n: int) -> None:
        nonlocal errors
        for k in range(4):
            key = f"key-{n}-{k}"
            with pool.item() as conn:
                conn.set(key, key.encode())
            with pool.item() as conn:
                if conn.get(key) != key.encode():
                    errors += 1

    greenthreads = eventlet.GreenPool(50)
    for n in range(50):
        greenthreads.spawn_n(worker, n)
    greenthreads.waitall()
    stats = pool.stats()
    pool.close()
    print(f"200 keys set and read back by 50 greenthreads, {errors} wrong")
    print(f"connections opened: {stats.created} (max_size 4), gets: {stats.gets}")
    return 0 if errors == 0 and stats.created <= 4 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
