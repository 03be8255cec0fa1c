"""Pool events: what happened to which item, delivered to listeners.

A pool tells listeners about each item's life: it was created (or creating
it failed), checked out, checked in, disposed (and why), or held so long it
looks leaked. Listeners are plain callables taking one :class:`PoolEvent`,
registered with ``pool.listen(name, fn)``. They run synchronously in the
greenthread that caused the event, after the pool's bookkeeping for it is
done, so a listener always sees a consistent pool.

A listener that raises an ``Exception`` is logged (logger
``eventlet_pools``) and skipped; the pool carries on as if it had returned.
A ``BaseException`` (a kill or ``eventlet.Timeout`` landing while a listener
switches) propagates to the caller, but the pool first puts back anything
that was in transit, so no capacity is lost either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

__all__ = ["DISPOSE_REASONS", "EVENT_NAMES", "Listener", "PoolEvent"]

logger = logging.getLogger("eventlet_pools")

#: Every event name ``pool.listen()`` accepts.
EVENT_NAMES = ("create", "create_failed", "checkout", "checkin", "dispose", "leak")

#: Why a pool disposed an item (``PoolEvent.reason`` of ``dispose`` events).
DISPOSE_REASONS = (
    "aged",  # older than max_age
    "idle",  # free and unused for longer than max_idle
    "uses",  # checked out max_uses times
    "check_failed",  # check() returned False or raised
    "reset_failed",  # reset() raised when the item came back
    "discarded",  # the holder called discard()
    "shrink",  # resize() made the pool smaller
    "overflow",  # an item above max_size came back with nobody waiting
    "closed",  # the pool was closed
    "reclaimed",  # a leaked item whose slot was taken back finally came back
    "unpooled",  # returned to a NullPool, which keeps nothing
    "ended",  # the greenthread owning it (GreenthreadLocalPool) finished
    "stray",  # put back while nothing was checked out (a placeholder)
    "cleared",  # dropped by clear() (eventlet_pools.db_pool)
    "drained",  # made before drain(): disposed free, or when it came back
)


@dataclass(frozen=True)
class PoolEvent:
    """One thing that happened in a pool, as a listener receives it.

    Attributes:
      name: one of :data:`EVENT_NAMES`.
      pool: the pool it happened in.
      item: the item concerned (``None`` for ``create_failed``).
      reason: for ``dispose``, one of :data:`DISPOSE_REASONS`.
      error: for ``create_failed``, what ``create()`` raised; for a
        ``dispose`` with reason ``check_failed``/``reset_failed``, the
        exception if one was raised.
      held: for ``leak``, seconds the item had been checked out; for
        ``checkin``, seconds it was out (``None`` for the shared item of a
        :class:`~eventlet_pools.StaticPool`, and for an item checked out
        before the first checkout/checkin listener came).
      stack: for ``leak``, where it was checked out (formatted traceback).
      waited: for ``checkout``, seconds the get() took: waiting in line,
        creating and checking the item.
      took: for ``create``, seconds ``create()`` took.
    """

    name: str
    pool: Any
    item: Any = None
    reason: Optional[str] = None
    error: Optional[BaseException] = None
    held: Optional[float] = None
    stack: Optional[str] = None
    waited: Optional[float] = None
    took: Optional[float] = None


Listener = Callable[[PoolEvent], Any]


def check_listener(name: object, fn: object) -> str:
    """Validate a ``listen``/``unlisten`` pair; return the event name."""
    if not isinstance(name, str) or name not in EVENT_NAMES:
        raise ValueError(f"event must be one of {', '.join(EVENT_NAMES)}; got {name!r}")
    if not callable(fn):
        raise TypeError(f"listener for {name!r} must be callable, got {fn!r}")
    return name


def deliver(
    listeners: tuple[Listener, ...],
    event: PoolEvent,
    call: Callable[[Listener, PoolEvent], None] = lambda fn, event: fn(event),
) -> None:
    """Call each listener with ``event``; log and skip the ones that raise.

    ``call(fn, event)`` runs one: the pool's backend passes one that awaits
    a coroutine listener (asyncio).
    """
    for fn in listeners:
        try:
            call(fn, event)
        except Exception:
            logger.exception("%r listener %r raised; ignored", event.name, fn)
