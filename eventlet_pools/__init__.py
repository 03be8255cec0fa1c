"""Greenlet-cooperative resource pools for eventlet servers.

A drop-in superset of :mod:`eventlet.pools`: ``import eventlet_pools as pools``
works wherever ``from eventlet import pools`` did, and adds timeouts on get,
FIFO fairness, resize that wakes waiters, close, and no capacity lost to
failed creates, timeouts or kills; and the lifecycle of a connection pool
(recycling by age, idleness and use count, health checks, leak detection,
events and statistics); DB-API connection pooling (:mod:`eventlet_pools.dbapi`),
pool variants (:mod:`eventlet_pools.variants`), a per-greenthread
:class:`Proxy`, eventlet.db_pool's API on these pools
(:mod:`eventlet_pools.db_pool`), and a pool of workers running functions
(:class:`WorkerPool`, a superset of ``eventlet.GreenPool``).
"""

from eventlet_pools.dbapi import ConnectionPool, PooledConnection, manage
from eventlet_pools.errors import (
    BackendError,
    ConnectionClosed,
    ConnectTimeout,
    LeaseLost,
    PoolClosed,
    PoolError,
    PoolFull,
    PoolTimeout,
    TooManyWaiters,
)
from eventlet_pools.events import DISPOSE_REASONS, EVENT_NAMES, PoolEvent
from eventlet_pools.lifecycle import Backoff
from eventlet_pools.pool import Channel, Pool
from eventlet_pools.proxy import Proxy
from eventlet_pools.stats import PoolConfig, PoolStats
from eventlet_pools.token import Token, TokenPool
from eventlet_pools.variants import AssertionPool, GreenthreadLocalPool, NullPool, StaticPool
from eventlet_pools.workers import AsyncWorkerPool, WorkerPool, WorkerStats, WorkFuture

__version__ = "0.1.0"

__all__ = [
    "DISPOSE_REASONS",
    "EVENT_NAMES",
    "AssertionPool",
    "AsyncWorkerPool",
    "BackendError",
    "Backoff",
    "Channel",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionPool",
    "GreenthreadLocalPool",
    "LeaseLost",
    "NullPool",
    "Pool",
    "PoolClosed",
    "PoolConfig",
    "PoolError",
    "PoolEvent",
    "PoolFull",
    "PoolStats",
    "PoolTimeout",
    "PooledConnection",
    "Proxy",
    "StaticPool",
    "Token",
    "TokenPool",
    "TooManyWaiters",
    "WorkFuture",
    "WorkerPool",
    "WorkerStats",
    "__version__",
    "manage",
]
