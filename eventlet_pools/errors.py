"""The whole exception hierarchy of eventlet_pools.

Everything the pools raise at run time derives from :class:`PoolError`, so one
``except PoolError`` catches all of it. Configuration mistakes are not run-time
errors: they raise :class:`ValueError` or :class:`TypeError` naming the argument.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConnectTimeout",
    "ConnectionClosed",
    "LeaseLost",
    "PoolClosed",
    "PoolError",
    "PoolFull",
    "PoolTimeout",
    "TooManyWaiters",
]


class PoolError(Exception):
    """Base class of every error a pool raises at run time.

    Raised as itself for misuse that would corrupt the pool's accounting, such
    as ``put()`` when nothing is checked out.
    """


class PoolTimeout(PoolError, TimeoutError):
    """No item could be had in time.

    Raised by ``get()``/``item()`` when the timeout passes while waiting, and at
    once by ``get(block=False)`` when nothing is free and nothing can be created
    (or other greenthreads are already waiting: non-blocking gets never jump the
    queue). It is also a :class:`TimeoutError`, so generic handlers catch it.
    """


class PoolClosed(PoolError):
    """The pool was closed: it hands out nothing more."""


class TooManyWaiters(PoolError):
    """A get() found ``max_waiting`` callers in line already: load shedding.

    Raised at once, instead of queueing one more caller that would most
    likely time out; nothing changes in the pool. Counted in the stats
    (``rejected``).
    """


class PoolFull(PoolError):
    """A :class:`~eventlet_pools.WorkerPool`'s queue is full.

    Raised by ``submit_nowait()`` when ``qsize`` tasks are queued (or
    producers are already waiting for room: nobody jumps the line);
    ``submit()`` waits for room instead.
    """


class ConnectionClosed(PoolError):
    """A pooled connection (or one of its cursors) was used after it left.

    Raised by the wrapper :class:`~eventlet_pools.dbapi.ConnectionPool`
    hands out, once its ``close()`` returned the connection to the pool or
    ``invalidate()`` dropped it: the connection may already serve another
    greenthread.
    """


class ConnectTimeout(PoolError):
    """Opening a database connection took longer than ``connect_timeout``.

    Raised by the pools of :mod:`eventlet_pools.db_pool` (as
    ``eventlet.db_pool.ConnectTimeout`` is by eventlet's): the slot the
    connection was to fill goes back to the pool.
    """


class LeaseLost(PoolError):
    """A distributed slot's lease is no longer held by its holder.

    Raised by :meth:`RedisTokenPool.put <eventlet_pools.redis.RedisTokenPool.put>`
    for a token whose lease expired (its process could not renew it in
    time) and whose slot Redis reclaimed, that was already put back, or
    that belongs to another pool. The call changes nothing in the shared
    pool.
    """


class BackendError(PoolError):
    """The shared backend of a distributed pool (Redis) failed or is unreachable.

    Nothing was admitted: a get() that raises this holds no slot. The
    backend's own exception is the ``__cause__`` and :attr:`cause`.
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        """The backend client's exception."""
