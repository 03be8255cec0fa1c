"""Backends: what a pool needs from the runtime it runs on, decided once.

A pool (and everything built on one: the lifecycle upkeep, the variants,
Proxy, the Redis pool) asks its :class:`Backend` for the few things that
differ between greenthreads (eventlet's or gevent's), OS threads and
asyncio tasks:

* ``waiter_queue()``: a new FIFO queue of parked callers (see _waiters.py);
* ``alarm()``: a sleep until a deadline others may move, for upkeep;
* ``spawn(fn, *args)``: start work nobody joins;
* ``lock`` and ``guard``: the lock that guards a pool's state (threads
  only; ``guard`` is a no-op context elsewhere);
* ``call_hook(fn, *args)``: run user code (create, check, reset) as the
  runtime needs: without the threads lock held, and on asyncio awaiting
  what it returns when that is awaitable; ``call_hook_later(pending, fn,
  *args)`` the same for hooks nobody waits on (dispose), which asyncio
  finishes in a task tracked in ``pending`` when it cannot await here;
* ``call_within(seconds, fn, *args)``: run ``fn`` and interrupt it at a
  deadline where the runtime can (greenthreads only);
* ``clock``: the monotonic clock time-based options read by default;
* ``current()``, ``watch_end(holder, fn, *args)`` and ``has_ended(ref)``:
  who is running (a greenthread, a thread, a task), and learning that it
  finished, for pools that bind items to their holder.

Nothing outside this module asks which runtime a pool runs on: a pool holds
its backend object and calls it. :func:`backend_for` turns the ``backend=``
argument into one. The green, gevent and asyncio backends are shared by
every pool (they hold no state); each threads pool gets its own, holding its
lock.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
import weakref
from contextlib import AbstractContextManager
from typing import Any, Callable, ClassVar, Optional

from eventlet_pools import _waiters
from eventlet_pools.errors import PoolError

__all__ = [
    "BACKENDS",
    "AsyncBackend",
    "Backend",
    "GeventBackend",
    "GreenBackend",
    "ThreadBackend",
    "backend_for",
    "resolve_backend",
]

#: What ``Pool(backend=...)`` accepts.
BACKENDS = ("auto", "eventlet", "gevent", "threads", "asyncio")

_NO_LOCK = contextlib.nullcontext()

logger = logging.getLogger("eventlet_pools")


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

    def call_hook(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``, user code: without the pool's lock held (it
        is taken back after), and awaited where the runtime awaits.

        Raises:
          TypeError: it returned an awaitable, which only the asyncio
            backend awaits.
        """
        return _not_awaitable(function, function(*args), self.name)

    def call_hook_later(self, pending: set[Any], function: Callable[..., Any], *args: Any) -> None:
        """``function(*args)`` for a hook whose result nobody waits on; what
        cannot finish now finishes in a task kept in ``pending`` meanwhile.

        Raises:
          TypeError: as :meth:`call_hook`.
        """
        _not_awaitable(function, function(*args), self.name)

    def call_within(self, seconds: float, function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        """``function(*args)``, interrupted after ``seconds`` where the runtime can.

        Returns ``(True, result)``, or ``(False, None)`` when interrupted.
        Only greenthreads can be interrupted; elsewhere it just runs.
        """
        return True, function(*args)

    def current(self) -> Any:
        """The greenthread, thread or task running now (an item's holder)."""
        raise NotImplementedError

    def watch_end(self, holder: Any, function: Callable[..., None], *args: Any) -> weakref.ref[Any]:
        """Arrange for ``function(*args)`` to run once ``holder`` (the one
        running now, from :meth:`current`) has finished; return a weak
        reference to it for :meth:`has_ended`. The function runs at most
        once, never while the holder still runs.
        """
        raise NotImplementedError

    def has_ended(self, ref: weakref.ref[Any]) -> bool:
        """True once the holder behind ``ref`` (from :meth:`watch_end`) finished."""
        raise NotImplementedError

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

    def current(self) -> Any:
        return _waiters.current_greenthread()

    def watch_end(self, holder: Any, function: Callable[..., None], *args: Any) -> weakref.ref[Any]:
        # Also while the ending GreenThread runs its links: callers that
        # must not act inside it check ``holder is current()``.
        return _waiters.watch_end(holder, function, *args)

    def has_ended(self, ref: weakref.ref[Any]) -> bool:
        return _waiters.has_ended(ref)


class GeventBackend(Backend):
    """gevent's greenlets of one hub: as :class:`GreenBackend`, on gevent's
    loop (its own program imports gevent; this library does not)."""

    __slots__ = ()
    name = "gevent"

    def waiter_queue(self) -> _waiters.GeventWaiterQueue:
        return _waiters.GeventWaiterQueue()

    def alarm(self) -> _waiters.GeventAlarm:
        return _waiters.GeventAlarm()

    def spawn(self, function: Callable[..., None], *args: Any) -> Any:
        return _waiters.gevent_spawn(function, *args)

    def call_within(self, seconds: float, function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
        return _waiters.gevent_call_within(seconds, function, *args)

    def current(self) -> Any:
        return _waiters.current_greenthread()

    def watch_end(self, holder: Any, function: Callable[..., None], *args: Any) -> weakref.ref[Any]:
        return _waiters.gevent_watch_end(holder, function, *args)

    def has_ended(self, ref: weakref.ref[Any]) -> bool:
        return _waiters.has_ended(ref)


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

    def call_hook(self, function: Callable[..., Any], *args: Any) -> Any:
        lock = self._lock
        if not lock._is_owned():  # type: ignore[attr-defined]
            return _not_awaitable(function, function(*args), self.name)
        # Released however many times this thread holds it, and taken back
        # after, as Condition.wait does (written out: this runs for every
        # check and reset, where a generator-based context cost more).
        state = lock._release_save()  # type: ignore[attr-defined]
        try:
            result = function(*args)
        finally:
            lock._acquire_restore(state)  # type: ignore[attr-defined]
        return _not_awaitable(function, result, self.name)

    def current(self) -> threading.Thread:
        return threading.current_thread()

    def watch_end(self, holder: Any, function: Callable[..., None], *args: Any) -> weakref.ref[Any]:
        # A thread-local sentinel is freed when its thread ends; its
        # finalizer starts the function in a new daemon thread (not in the
        # ending thread, which is tearing down).
        if holder is not threading.current_thread():
            raise ValueError("watch_end() watches the thread that calls it")
        sentinel = getattr(_thread_ends, "sentinel", None)
        if sentinel is None:
            sentinel = _thread_ends.sentinel = _EndSentinel()
            weakref.finalize(sentinel, _waiters.spawn_thread, _call_all, sentinel.calls, weakref.ref(holder))
        sentinel.calls[(function, args)] = None  # once per function and arguments
        return weakref.ref(holder)

    def has_ended(self, ref: weakref.ref[Any]) -> bool:
        # A thread whose locals were freed has ended, even if is_alive()
        # does not say so yet (it turns False a moment later, at teardown).
        thread = ref()
        return thread is None or thread in _ended_threads or not thread.is_alive()


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

    def call_hook(self, function: Callable[..., Any], *args: Any) -> Any:
        # create(), check() and reset() may be coroutine functions, or return
        # awaitables: awaited in the bridge greenlet the pool's code runs in.
        result = function(*args)
        if is_awaitable(result):
            if not _waiters.in_bridge():
                _drop_awaitable(result)
                raise AwaitNeeded(
                    f"{function!r} returned an awaitable outside the pool's async methods:"
                    " an asyncio pool awaits its hooks in aget(), aitem(), aput() and aclose()"
                )
            result = _waiters.await_only(result)
        return result

    def call_hook_later(self, pending: set[Any], function: Callable[..., Any], *args: Any) -> None:
        result = function(*args)
        if not is_awaitable(result):
            return
        if _waiters.in_bridge():
            _waiters.await_only(result)
            return
        # From synchronous code (a put(), close()): finished by a task of the
        # loop, which aclose() waits for.
        import asyncio

        try:
            task = asyncio.ensure_future(result)
        except RuntimeError:  # no running loop: it cannot run at all
            _drop_awaitable(result)
            raise
        pending.add(task)
        task.add_done_callback(lambda done: _hook_finished(pending, function, done))

    def current(self) -> Any:
        import asyncio

        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            task = None
        if task is None:
            from eventlet_pools.errors import PoolError

            raise PoolError("not inside an asyncio task: nothing to bind an item to")
        return task

    def watch_end(self, holder: Any, function: Callable[..., None], *args: Any) -> weakref.ref[Any]:
        holder.add_done_callback(lambda _task: function(*args))
        return weakref.ref(holder)

    def has_ended(self, ref: weakref.ref[Any]) -> bool:
        task = ref()
        return task is None or bool(task.done())


class AwaitNeeded(PoolError):
    """A hook returned an awaitable where the pool's code cannot await it
    (a synchronous call on an asyncio pool, outside its ``a``-methods)."""


def is_awaitable(value: Any) -> bool:
    # Coroutines, futures, tasks: whatever defines __await__ (a cheaper test
    # than inspect.isawaitable, run for every hook's result).
    return getattr(type(value), "__await__", None) is not None


def _not_awaitable(function: Callable[..., Any], result: Any, backend: str) -> Any:
    # A hook's result where nothing awaits: an awaitable is refused at once
    # (an async create() would otherwise hand out a coroutine as the item).
    if is_awaitable(result):
        _drop_awaitable(result)
        raise TypeError(
            f"{function!r} returned an awaitable: async hooks need backend='asyncio',"
            f" and this pool uses {backend!r}"
        )
    return result


def _drop_awaitable(value: Any) -> None:
    # An awaitable that will not be awaited: closed (a coroutine) or
    # cancelled (a future), so that it leaves no "never awaited" warning.
    close = getattr(value, "close", None) or getattr(value, "cancel", None)
    if close is not None:
        close()


def _hook_finished(pending: set[Any], function: Callable[..., Any], task: Any) -> None:
    pending.discard(task)
    error = None if task.cancelled() else task.exception()
    if error is not None:
        logger.error("%r, finished in a task of the loop, raised; ignored", function, exc_info=error)


def _loop_running() -> bool:
    if "asyncio" not in sys.modules:
        return False
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _EndSentinel:
    """Lives in a thread-local slot: freed (and finalized) when its thread
    ends; ``calls`` are the functions to run then."""

    __slots__ = ("__weakref__", "calls")

    def __init__(self) -> None:
        self.calls: dict[tuple[Callable[..., None], tuple[Any, ...]], None] = {}


def _call_all(
    calls: dict[tuple[Callable[..., None], tuple[Any, ...]], None], thread_ref: weakref.ref[Any]
) -> None:
    # In a new thread, after a watched thread ended: every call, each once.
    thread = thread_ref()
    if thread is not None:
        _ended_threads.add(thread)
    for function, args in list(calls):
        try:
            function(*args)
        except Exception:
            logger.exception("%r, run after a thread ended, raised", function)


# Each thread's end sentinels (ThreadBackend.watch_end).
_thread_ends = threading.local()
# Threads whose locals were freed (see ThreadBackend.has_ended).
_ended_threads: weakref.WeakSet[Any] = weakref.WeakSet()

_GREEN = GreenBackend()
_GEVENT = GeventBackend()
_ASYNC = AsyncBackend()


def resolve_backend(name: object) -> str:
    """The backend a pool made now should use, by name.

    ``'auto'`` is eventlet when the program has imported eventlet (it uses
    greenthreads: monkey-patched or not, a pool made before its hub starts
    must be green); otherwise gevent when it has imported gevent; otherwise
    asyncio when made inside a running event loop; otherwise native threads.

    Raises:
      ValueError: not one of :data:`BACKENDS`.
    """
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name != "auto":
        return name
    if "eventlet" in sys.modules:
        return "eventlet"
    if "gevent" in sys.modules:
        return "gevent"
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
    if resolved == "gevent":
        _require_gevent()
        return _GEVENT
    return _ASYNC if resolved == "asyncio" else _GREEN


def _require_gevent() -> None:
    # backend='gevent' needs gevent installed (extra ``gevent``).
    try:
        import gevent  # noqa: F401
    except ImportError:
        raise ValueError("backend='gevent' needs gevent: pip install 'eventlet_pools[gevent]'") from None
