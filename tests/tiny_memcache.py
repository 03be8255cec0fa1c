"""A tiny green memcached-protocol server for the tests (loopback only)."""

from __future__ import annotations

import socket
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet


class TinyMemcache:
    """A green server speaking just enough of the memcached text protocol
    (set, get, version) for examples/memcache_pool.py, on a free loopback
    port (or the one given). It counts connections and can drop them all, as
    a restart would."""

    def __init__(self, port: int = 0) -> None:
        self.data: dict[bytes, bytes] = {}
        self.open: list[Any] = []
        self.accepted = 0
        self.listener = eventlet.listen(("127.0.0.1", port))
        self.address = self.listener.getsockname()
        self.server = eventlet.spawn(self._serve)

    def _serve(self) -> None:
        while True:
            sock, _ = self.listener.accept()
            self.accepted += 1
            self.open.append(sock)
            eventlet.spawn_n(self._handle, sock)

    def _handle(self, sock: Any) -> None:
        reader = sock.makefile("rb")
        try:
            while True:
                line = reader.readline()
                if not line:
                    return
                words = line.split()
                if words[0] == b"version":
                    sock.sendall(b"VERSION tiny-1.0\r\n")
                elif words[0] == b"set":
                    self.data[words[1]] = reader.read(int(words[4]) + 2)[:-2]
                    sock.sendall(b"STORED\r\n")
                elif words[0] == b"get":
                    value = self.data.get(words[1])
                    if value is not None:
                        sock.sendall(b"VALUE %s 0 %d\r\n%s\r\n" % (words[1], len(value), value))
                    sock.sendall(b"END\r\n")
        except OSError:
            return
        finally:
            if sock in self.open:
                self.open.remove(sock)
            sock.close()

    def drop_all(self) -> None:
        for sock in list(self.open):
            sock.shutdown(socket.SHUT_RDWR)
        eventlet.sleep(0.01)

    def close(self) -> None:
        self.server.kill()
        self.listener.close()
