"""Pool statistics: counters kept as the pool runs, frozen snapshots out.

The pool keeps its counters as plain integers it bumps on the way (only the
get counter is on the uncontended path) and remembers the wait times of the
last :data:`WAIT_WINDOW` gets that had to wait. :meth:`Pool.stats` copies all
of it into a :class:`PoolStats`, which never changes afterwards and turns into
JSON-ready data with :meth:`PoolStats.as_dict`.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

from eventlet_pools.events import DISPOSE_REASONS
from eventlet_pools.lifecycle import Settings

__all__ = ["WAIT_WINDOW", "PoolConfig", "PoolStats"]

#: How many recent wait times the percentiles are computed over.
WAIT_WINDOW = 1024


@dataclass(frozen=True)
class PoolConfig(Settings):
    """A pool's configuration at the time of the snapshot (seconds, counts).

    The sizes and default timeout, and every lifecycle option (the fields of
    :class:`~eventlet_pools.lifecycle.Settings`); ``check``, ``reset`` and
    ``create_retry`` say whether each is set (True or False).
    """

    min_size: int = 0
    max_size: int = 0
    timeout: Optional[float] = None
    max_waiting: Optional[int] = None


@dataclass(frozen=True)
class PoolStats:
    """A frozen snapshot of one pool: sizes now, counters since it started.

    Sizes: ``size`` items alive or being created, of which ``free_items`` sit
    in the pool, ``checked_out`` are held, and ``creating`` are being made;
    ``free`` is how many get() calls would succeed at once; ``waiting`` is
    how many greenthreads wait. Counters count since construction. The
    ``wait_*`` figures are seconds over the last :data:`WAIT_WINDOW` gets
    that had to wait (``None`` before any did). ``rejected`` counts gets
    turned away by ``max_waiting``. After :meth:`Pool.pop_stats`, counters
    and wait times start again from zero.
    """

    name: Optional[str]
    config: PoolConfig
    closed: bool
    size: int
    free_items: int
    free: int
    checked_out: int
    creating: int
    waiting: int
    gets: int
    waits: int
    timeouts: int
    created: int
    create_errors: int
    disposed: dict[str, int]
    checks: int
    checks_failed: int
    leaks: int
    reclaimed: int
    rejected: int
    wait_p50: Optional[float]
    wait_p99: Optional[float]
    wait_max: Optional[float]

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as plain dicts, lists and numbers (``json.dumps`` takes it)."""
        return dataclasses.asdict(self)


@dataclass
class Counters:
    """What the pool counts on its slow paths (the get counter lives on the pool)."""

    waits: int = 0
    timeouts: int = 0
    created: int = 0
    create_errors: int = 0
    checks: int = 0
    checks_failed: int = 0
    leaks: int = 0
    reclaimed: int = 0
    rejected: int = 0
    disposed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DISPOSE_REASONS, 0))
    wait_times: deque[float] = field(default_factory=lambda: deque(maxlen=WAIT_WINDOW))


def percentile(ordered: list[float], fraction: float) -> Optional[float]:
    """The nearest-rank percentile of an already sorted list (None if empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without float drift
    return ordered[int(rank) - 1]
