"""A throwaway redis-server for tests and benchmarks.

:class:`RedisServer` starts ``redis-server`` on a free loopback port with
nothing kept on disk, so a test never touches (or depends on) a shared
Redis. It can be killed and restarted on the same port, to test what a
Redis restart does to the pools.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Optional

__all__ = ["RedisServer"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server of our own on 127.0.0.1, started and stopped on demand.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
      executable: the redis-server binary (default: found on PATH).

    Raises:
      FileNotFoundError: no redis-server (``apt-get install redis-server``).
    """

    def __init__(self, executable: Optional[str] = None) -> None:
        found = executable or shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(found):
            raise FileNotFoundError("redis-server not found: apt-get install redis-server")
        self.executable = found
        self.port = _free_port()
        self.host = "127.0.0.1"
        self._dir = tempfile.mkdtemp(prefix="eventlet_pools_redis_")
        self._process: Optional[subprocess.Popen[bytes]] = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server (on the same port as before) and wait until it answers.

        Raises:
          RuntimeError: it did not answer within ``timeout`` seconds.
        """
        self._process = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode} on port {self.port}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL the server: everything it held is gone, as in a crash."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)  # were it paused
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(10)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP the server: it holds its data but runs no command, as in
        a long fork or a frozen VM, until :meth:`resume`.

        Raises:
          RuntimeError: the server is not running.
        """
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server: it runs the commands that queued up.

        Raises:
          RuntimeError: the server is not running.
        """
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} is not running")
        self._process.send_signal(signum)

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    def restart(self) -> None:
        """Kill the server and start a new, empty one on the same port."""
        self.kill()
        self.start()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()
