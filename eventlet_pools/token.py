"""Token, TokenPool: a cooperative semaphore built on Pool."""

from __future__ import annotations

from eventlet_pools.pool import Pool

__all__ = ["Token", "TokenPool"]


class Token:
    """An opaque permit: holding one means you may use the limited resource."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<Token at {id(self):#x}>"


class TokenPool(Pool[Token]):
    """A pool of :class:`Token` permits: at most ``max_size`` holders at once.

    Use it to bound concurrency where there is no object to pool, e.g. the
    number of outbound calls in flight::

        limit = TokenPool(max_size=10)
        with limit.item():
            call_the_backend()

    It takes the same arguments, and keeps the same FIFO, timeout and
    no-lost-capacity guarantees, as :class:`~eventlet_pools.Pool`.
    """

    def create(self) -> Token:
        """Return a new, unique :class:`Token`."""
        return Token()
