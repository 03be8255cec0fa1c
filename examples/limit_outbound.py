"""Cap concurrent outbound calls from a green server with a TokenPool.

Run: python examples/limit_outbound.py

It starts a slow "backend" green server on a free loopback port, then fires
50 green requests at it while a TokenPool lets at most 5 be in flight. Calls
that cannot get a token within 0.5 s give up with PoolTimeout instead of
piling onto the backend. It prints how many calls ran, how many gave up, and
the most that were ever in flight (never more than the pool's size).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from typing import Any, Callable

import eventlet_pools as pools

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.wsgi
    from eventlet.green.urllib import request


class _Quiet:
    def write(self, data: str) -> None:
        """Discard the access log."""


def main() -> int:
    """Serve, load, report; exit 0 when the cap held."""
    in_flight = most = 0

    def backend(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        eventlet.sleep(0.05)  # a slow dependency
        in_flight -= 1
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    sock = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(eventlet.wsgi.server, sock, backend, log=_Quiet())
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    limit = pools.TokenPool(max_size=5, timeout=0.5)
    ran = gave_up = 0

    def call() -> None:
        nonlocal ran, gave_up
        try:
            with limit.item(), request.urlopen(url, timeout=5) as response:
                response.read()
            ran += 1
        except pools.PoolTimeout:
            gave_up += 1

    green = eventlet.GreenPool()
    for _ in range(50):
        green.spawn_n(call)
    green.waitall()
    server.kill()
    print(f"ran {ran}, gave up {gave_up}, at most {most} in flight (limit {limit.max_size})")
    return 0 if most <= limit.max_size and ran + gave_up == 50 else 1


if __name__ == "__main__":
    sys.exit(main())
