"""Greenlet-cooperative resource pools for eventlet servers.

A drop-in superset of :mod:`eventlet.pools`: ``import eventlet_pools as pools``
works wherever ``from eventlet import pools`` did, and adds timeouts on get,
FIFO fairness, resize that wakes waiters, close, and no capacity lost to
failed creates, timeouts or kills; and the lifecycle of a connection pool
(recycling by age, idleness and use count, health checks, leak detection,
events and statistics).
"""

from eventlet_pools.errors import PoolClosed, PoolError, PoolTimeout
from eventlet_pools.events import DISPOSE_REASONS, EVENT_NAMES, PoolEvent
from eventlet_pools.lifecycle import Backoff
from eventlet_pools.pool import Pool
from eventlet_pools.stats import PoolConfig, PoolStats
from eventlet_pools.token import Token, TokenPool

__version__ = "0.1.0"

__all__ = [
    "DISPOSE_REASONS",
    "EVENT_NAMES",
    "Backoff",
    "Pool",
    "PoolClosed",
    "PoolConfig",
    "PoolError",
    "PoolEvent",
    "PoolStats",
    "PoolTimeout",
    "Token",
    "TokenPool",
    "__version__",
]
