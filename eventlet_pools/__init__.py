"""Greenlet-cooperative resource pools for eventlet servers.

A drop-in superset of :mod:`eventlet.pools`: ``import eventlet_pools as pools``
works wherever ``from eventlet import pools`` did, and adds timeouts on get,
FIFO fairness, resize that wakes waiters, close, and no capacity lost to
failed creates, timeouts or kills.
"""

from eventlet_pools.errors import PoolClosed, PoolError, PoolTimeout
from eventlet_pools.pool import Pool
from eventlet_pools.token import Token, TokenPool

__version__ = "0.1.0"

__all__ = [
    "Pool",
    "PoolClosed",
    "PoolError",
    "PoolTimeout",
    "Token",
    "TokenPool",
    "__version__",
]
