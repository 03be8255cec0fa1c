"""Item lifecycle: the options and the per-item records.

A pool with none of the lifecycle options set keeps no per-item state at all;
that is what keeps its uncontended get/put as fast as the core. Once an option
(or a checkout/checkin listener) is set, the pool keeps a :class:`Record` for
each item it knows: when it was created, last returned and last checked, how
often it was used, and, while it is checked out, since when and from where.

What the options ask of items over time is done by the get/put paths
(_tracked.py) and by the background rounds of maintenance.py.
"""

from __future__ import annotations

import logging
import random
import sys
import traceback
from dataclasses import dataclass, field, fields
from numbers import Real
from types import FrameType
from typing import Any, Callable, Optional, Union

from eventlet_pools._validate import check_callable, check_seconds, check_size

__all__ = ["Backoff", "Options", "Record", "Settings"]

logger = logging.getLogger("eventlet_pools")

#: How many frames of a checkout's stack are kept for leak reports.
STACK_DEPTH = 24


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter for retrying a failed ``create()``.

    The n-th retry (from 0) waits ``min(cap, first * factor**n)`` seconds,
    moved at random by up to ``jitter`` of itself either way, so many pools
    recovering from the same outage do not retry in step.

    Args:
      first: seconds before the first retry (> 0).
      factor: growth per failed retry (>= 1).
      cap: longest wait between retries (>= first).
      jitter: fraction of the wait to randomise, 0 to 1.

    Raises:
      TypeError, ValueError: an argument out of range.
    """

    first: float = 0.1
    factor: float = 2.0
    cap: float = 10.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        for name in ("first", "factor", "cap", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise TypeError(f"Backoff.{name} must be a number, got {value!r}")
        if not self.first > 0:
            raise ValueError(f"Backoff.first must be > 0 seconds, got {self.first!r}")
        if not self.factor >= 1:
            raise ValueError(f"Backoff.factor must be >= 1, got {self.factor!r}")
        if not self.cap >= self.first:
            raise ValueError(f"Backoff.cap ({self.cap!r}) must be >= first ({self.first!r})")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"Backoff.jitter must be between 0 and 1, got {self.jitter!r}")

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first)."""
        base = min(self.cap, self.first * self.factor ** min(attempt, 64))
        return min(self.cap, base * (1 + self.jitter * (2 * rng() - 1)))


@dataclass(frozen=True)
class Settings:
    """The lifecycle options of a pool, declared once (see :class:`Pool`).

    ``Options`` (what a pool runs with) and
    :class:`~eventlet_pools.stats.PoolConfig` (what its stats report) both
    take their fields from here.
    """

    max_overflow: int = 0
    max_age: Optional[float] = None
    max_idle: Optional[float] = None
    max_uses: Optional[int] = None
    health_check_interval: Optional[float] = None
    max_hold: Optional[float] = None
    reclaim_after: Optional[float] = None
    check: Any = None
    reset: Any = None
    create_retry: Any = None
    reconnect_timeout: Optional[float] = None
    reconnect_failed: Any = None

    def snapshot(self) -> dict[str, Any]:
        """The options as plain data: each hook says only whether it is set."""
        values = {f.name: getattr(self, f.name) for f in fields(Settings)}
        for hook in _HOOKS:
            values[hook] = values[hook] is not None
        return values


# The options in seconds that set deadlines for maintenance to watch.
_DEADLINES = ("max_age", "max_idle", "health_check_interval", "max_hold", "reclaim_after")

# The options that hold callables (or a Backoff), not plain numbers.
_HOOKS = ("check", "reset", "create_retry", "reconnect_failed")


@dataclass(frozen=True)
class Options(Settings):
    """The lifecycle options of one pool, validated, and what follows from them.

    ``create_retry`` is a :class:`Backoff` or None (True means the default
    Backoff). ``report_leak_after``, ``timed`` and ``any_set`` are derived.

    Raises:
      TypeError, ValueError: an option of the wrong type or out of range
        (as :class:`~eventlet_pools.Pool` documents).
    """

    check: Optional[Callable[[Any], Any]] = None
    reset: Optional[Callable[[Any], Any]] = None
    create_retry: Union[bool, Backoff, None] = None
    reconnect_failed: Optional[Callable[[Any], Any]] = None
    #: Seconds after which a checkout is first reported as a leak.
    report_leak_after: Optional[float] = field(init=False, repr=False, default=None)
    #: True when an option has deadlines for maintenance to watch.
    timed: bool = field(init=False, repr=False, default=False)
    #: True when any option differs from its default.
    any_set: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)  # frozen: set once, here

        given_hold, given_reclaim = self.max_hold, self.reclaim_after  # as given, for messages
        for name in (*_DEADLINES, "reconnect_timeout"):
            put(name, check_seconds(name, getattr(self, name), positive=True))
        if self.max_uses is not None:
            put("max_uses", check_size("max_uses", self.max_uses, 1))
        check_size("max_overflow", self.max_overflow)
        check_callable("check", self.check)
        check_callable("reset", self.reset)
        check_callable("reconnect_failed", self.reconnect_failed)
        if self.health_check_interval is not None and self.check is None:
            raise ValueError("health_check_interval needs check= (the callable that checks an item)")
        if (
            self.max_hold is not None
            and self.reclaim_after is not None
            and self.reclaim_after < self.max_hold
        ):
            raise ValueError(
                f"reclaim_after ({given_reclaim!r}) must not be shorter than max_hold ({given_hold!r})"
            )
        retry = self.create_retry
        if retry is True:
            put("create_retry", Backoff())
        elif retry is False:
            put("create_retry", None)
        elif retry is not None and not isinstance(retry, Backoff):
            raise TypeError(f"create_retry must be a bool, a Backoff or None, got {retry!r}")
        if (self.reconnect_timeout is not None or self.reconnect_failed is not None) and not isinstance(
            self.create_retry, Backoff
        ):
            raise ValueError(
                "reconnect_timeout and reconnect_failed need create_retry= (the retries they watch)"
            )
        put("report_leak_after", self.max_hold if self.max_hold is not None else self.reclaim_after)
        timed = any(getattr(self, name) is not None for name in (*_DEADLINES, "create_retry"))
        put("timed", timed)
        put(
            "any_set",
            timed
            or self.max_uses is not None
            or self.max_overflow > 0
            or self.check is not None
            or self.reset is not None,
        )


class Record:
    """What a pool with lifecycle options remembers about one item.

    Times are readings of the pool's clock. ``out_since`` is ``None`` while
    the item is not checked out.
    """

    __slots__ = (
        "checked",
        "created",
        "fresh",
        "item",
        "leak_reported",
        "out_since",
        "reclaimed",
        "stack",
        "used",
        "uses",
    )

    def __init__(self, item: Any, now: float) -> None:
        self.item = item
        self.created = now
        self.used = now  # last returned (or created): idle since then
        self.checked = now  # last known good: created, returned or checked
        self.uses = 0
        self.out_since: Optional[float] = None
        self.stack: Optional[list[tuple[str, int, str]]] = None
        self.leak_reported = False
        self.reclaimed = False
        # Made by the get() that is about to hand it out: no check needed.
        self.fresh = False

    def due_while_free(self, opts: Options, idle_counts: bool) -> Optional[float]:
        """When maintenance next has work with this item while it is free.

        The earliest of its age, idle (if ``idle_counts``: the pool is above
        min_size) and health-check deadlines; ``None`` if no option sets one.
        """
        due = None
        for limit, since in (
            (opts.max_age, self.created),
            (opts.max_idle if idle_counts else None, self.used),
            (opts.health_check_interval, self.checked),
        ):
            if limit is not None and (due is None or since + limit < due):
                due = since + limit
        return due

    def capture_stack(self, depth: int) -> None:
        """Remember where the checkout happened.

        Only (file, line, function) of the innermost :data:`STACK_DEPTH`
        frames are kept: no frame objects (which would keep the caller's
        locals alive) and no source lines, which are read only if a leak is
        reported.
        """
        frames: list[tuple[str, int, str]] = []
        frame: Optional[FrameType] = sys._getframe(1)
        # Skip the pool's own frames; a greenlet's stack (an asyncio pool's
        # bridge) may be shallower than that, so stop at its bottom frame.
        for _ in range(depth):
            if frame is None or frame.f_back is None:
                break
            frame = frame.f_back
        while frame is not None and len(frames) < STACK_DEPTH:
            code = frame.f_code
            frames.append((code.co_filename, frame.f_lineno, code.co_name))
            frame = frame.f_back
        self.stack = frames

    def format_stack(self) -> str:
        """The checkout stack as traceback-style text ('' if not captured)."""
        if self.stack is None:
            return ""
        summary = traceback.StackSummary.from_list(
            [
                traceback.FrameSummary(filename, lineno, name)
                for filename, lineno, name in reversed(self.stack)
            ]
        )
        return "".join(summary.format())
