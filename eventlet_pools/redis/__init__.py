"""Distributed pools: capacity limits that hold across processes and machines.

Needs redis-py (``pip install 'eventlet_pools[redis]'``), made green by
``eventlet.monkey_patch()`` or imported with ``eventlet.import_patched``.
:class:`RedisTokenPool` is a TokenPool whose slots live in Redis;
:func:`pooled` limits concurrent calls of a function per key template.
"""

from __future__ import annotations

try:
    import redis as _redis  # noqa: F401  (checked here for a clear message)
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("eventlet_pools.redis needs redis-py: pip install 'eventlet_pools[redis]'") from exc

from eventlet_pools.errors import BackendError, LeaseLost
from eventlet_pools.redis.decorator import pooled
from eventlet_pools.redis.pool import RedisToken, RedisTokenPool

__all__ = ["BackendError", "LeaseLost", "RedisToken", "RedisTokenPool", "pooled"]
