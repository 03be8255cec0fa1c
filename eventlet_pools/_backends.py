"""Backends: what a pool needs from the runtime it runs on, decided once.

A pool (and everything built on one: the lifecycle upkeep, the variants,
Proxy, the Redis pool) asks its :class:`Backend` for the few things that
differ between greenthreads, OS threads and asyncio tasks:

* ``waiter_queue()``: a new FIFO queue of parked callers (see _waiters.py);
* ``alarm()``: a sleep until a deadline others may move, for upkeep;
* ``spawn(fn, *args)``: start work nobody joins;
* ``lock`` and ``guard``: the lock that guards a pool's state (threads
  only; ``guard`` is a no-op context elsewhere), and ``call_unlocked`` to
  run slow user code (create, check, reset) without holding it;
* ``call_within(seconds, fn, *args)``: run ``fn`` and interrupt it at a
  deadline where the runtime can (greenthreads only);
* ``clock``: the monotonic clock time-based options read by default.

Nothing outside this module asks which runtime a pool runs on: a pool holds
its backend object and calls it. :func:`backend_for` turns the ``backend=``
argument into one. The green and asyncio backends are shared by every pool
(they hold no state); each threads pool gets its own, holding its lock.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from contextlib import AbstractContextManager
from typing import Any, Callable, ClassVar, Optional

from eventlet_pools import _waiters

__all__ = [
    "BACKENDS",
    "AsyncBackend",
    "Backend",
    "GreenBackend",
    "ThreadBackend",
    "backend_for",
    "resolve_backend",
]

#: What ``Pool(backend=...)`` accepts.
BACKENDS = ("auto", "eventlet", "threads", "asyncio")

_NO_LOCK = contextlib.nullcontext()


class Backend:
    """The runtime of one pool: how its callers wait, sleep and start work.

    Subclasses fill in every method; the base class holds what is shared.
    """

    __slots__ = ()

    #: The name ``Pool(backend=...)`` takes, and ``pool.backend`` reports.
    name: ClassVar[str] = ""
    #: True when waiting needs the ``a``-methods (``await pool.aget()``).
    is_async: ClassVar[bool] = False

    @property
    def clock(self) -> Callable[[], float]:
        """The monotonic clock time-based options read when the pool is given none."""
        return time.monotonic

    @property
    def lock(self) -> Optional[Any]:
        """The reentrant lock guarding the pool's state, or None (one
        greenthread or task runs at a time: nothing to guard)."""
        return None

    @property
    def guard(self) -> AbstractContextManager[Any]:
        """``with backend.guard:`` holds :attr:`lock`; a no-op without one."""
        return _NO_LOCK

    def waiter_queue(self) -> Any:
        """A new, empty FIFO queue of parked callers."""
        raise NotImplementedError

    def alarm(self) -> Any:
        """A new alarm: a sleep until a deadline others may move or cancel."""
        raise NotImplementedError

    def spawn(self, function: Callable[..., None], *args: Any) -> Any:
        """Start ``function(*args)`` concurrently, unjoined; return its handle."""
        raise NotImplementedError

    def can_spawn(self) -> bool:
        """Whether :meth:`spawn` can start something from here and now."""
        return True

    def call_unlocked(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` without the pool's lock held (it is taken back after)."""
        return function(*args)

    def call_within(self, seconds: float, function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """``function(*args)``, interrupted after ``seconds`` where the runtime can.

        Returns ``(True, result)``, or ``(False, None)`` when interrupted.
        Only greenthreads can be interrupted; elsewhere it just runs.
        """
        return True, function(*args)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class GreenBackend(Backend):
    """eventlet's greenthreads of one hub: no lock, parking switches to the hub."""

    __slots__ = ()
    name = "eventlet"

    def waiter_queue(self) -> _waiters.GreenWaiterQueue:
        return _waiters.GreenWaiterQueue()

    def alarm(self) -> _waiters.GreenAlarm:
        return _waiters.GreenAlarm()

    def spawn(self, function: Callable[..., None], *args: Any) -> Any:
        return _waiters.spawn_background(function, *args)

    def call_within(self, seconds: float, function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        return _waiters.call_within(seconds, function, *args)


class ThreadBackend(Backend):
    """Native OS threads: one reentrant lock per pool; waiters sleep without it."""

    __slots__ = ("_lock",)
    name = "threads"

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def guard(self) -> threading.RLock:
        return self._lock

    def waiter_queue(self) -> _waiters.ThreadWaiterQueue:
        return _waiters.ThreadWaiterQueue(self._lock)

    def alarm(self) -> _waiters.ThreadAlarm:
        return _waiters.ThreadAlarm()

    def spawn(self, function: Callable[..., None], *args: Any) -> threading.Thread:
        return _waiters.spawn_thread(function, *args)

    def call_unlocked(self, function: Callable[..., Any], *args: Any) -> Any:
        lock = self._lock
        if not lock._is_owned():  # type: ignore[attr-defined]
            return function(*args)
        with _waiters.unlocked(lock):
            return function(*args)


class AsyncBackend(Backend):
    """asyncio tasks of one event loop: waits natively in the ``a``-methods."""

    __slots__ = ()
    name = "asyncio"
    is_async = True

    def waiter_queue(self) -> _waiters.AsyncWaiterQueue:
        return _waiters.AsyncWaiterQueue()

    def alarm(self) -> _waiters.AsyncAlarm:
        return _waiters.AsyncAlarm()

    def spawn(self, function: Callable[..., None], *args: Any) -> Any:
        return _waiters.spawn_task(function, *args)

    def can_spawn(self) -> bool:
        # A pool made outside its loop starts upkeep from its first call inside.
        return _loop_running()


def _loop_running() -> bool:
    if "asyncio" not in sys.modules:
        return False
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


_GREEN = GreenBackend()
_ASYNC = AsyncBackend()


def resolve_backend(name: object) -> str:
    """The backend a pool made now should use, by name.

    ``'auto'`` is eventlet when the program has imported eventlet (it uses
    greenthreads: monkey-patched or not, a pool made before its hub starts
    must be green); otherwise asyncio when made inside a running event
    loop; otherwise native threads.

    Raises:
      ValueError: not one of :data:`BACKENDS`.
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name != "auto":
        return name
    if "eventlet" in sys.modules:
        return "eventlet"
    if _loop_running():
        return "asyncio"
    return "threads"


def backend_for(name: object) -> Backend:
    """The :class:`Backend` for ``Pool(backend=name)`` (see :func:`resolve_backend`).

    Raises:
      ValueError: not one of :data:`BACKENDS`.
    """
    resolved = resolve_backend(name)
    if resolved == "threads":
        return ThreadBackend()
    return _ASYNC if resolved == "asyncio" else _GREEN
