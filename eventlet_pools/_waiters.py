"""FIFO waiter queue with direct handoff: the one waiting primitive.

A greenthread that cannot be served at once *parks* here. Whoever frees
something *grants* it to the first parked greenthread: the grant is recorded
on the waiter object at once, and the wake-up is scheduled on the hub, so
granting never blocks and never switches greenthreads. A parked greenthread
leaves the queue in one of three ways: it is granted a value, it is *failed*
with an exception (the pool was closed), or it is *cancelled* (its timeout
passed, or an exception such as ``eventlet.Timeout``/``GreenletExit`` was
thrown into it). A waiter that was granted a value but is interrupted before
it runs gives the value back through the ``abandon`` callback, so whatever it
was granted passes on instead of being lost.

The queue knows nothing about pools: the values it hands over are opaque.
Only this module touches the eventlet hub, so another waiting primitive
(threads, asyncio) can stand in for it behind the same four operations; and
it imports eventlet only when first used, so importing the library does not.
:class:`GreenAlarm` and :func:`spawn_background` are the two more pieces a
pool's maintenance greenthread needs: sleeping until a deadline that may move,
and starting a greenthread nobody joins. :func:`watch_end` and
:func:`has_ended` let per-greenthread pools and proxies learn that the
greenthread holding an item has finished.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
import warnings
import weakref
from _thread import allocate_lock as _allocate_lock
from collections import deque
from typing import Any, Callable, Optional

from greenlet import getcurrent, greenlet

_imported: dict[str, Any] = {}


def _import_eventlet(name: str) -> Any:
    # eventlet is imported on first use, not with this library: a program
    # that never waits on a pool never loads it. It warns at first import
    # that it is deprecated; using a pool is not the moment to see that.
    # Kept once imported: catching warnings costs microseconds per call.
    module = _imported.get(name)
    if module is None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
            module = _imported[name] = __import__(name, fromlist=["_"])
    return module


def _first_get_hub() -> Any:
    # get_hub() until the first call, which imports eventlet and puts
    # eventlet's own get_hub in its place: no cost on later calls.
    global get_hub
    real = _import_eventlet("eventlet.hubs").get_hub
    get_hub = _EVENTLET_HUBS.get_hub = real
    return real()


#: eventlet's hub of this thread (eventlet is imported on the first call).
get_hub: Callable[[], Any] = _first_get_hub


class _Hubs:
    """Where the green queue and alarm find the hub of this thread:
    ``get_hub()`` returns an object with eventlet's hub's ``switch()``,
    ``schedule_call_global(seconds, fn, *args)`` (a handle with
    ``cancel()``) and ``greenlet``: eventlet's hub itself, or
    :class:`_GeventHub` over gevent's."""

    __slots__ = ("get_hub",)

    def __init__(self, get_hub: Callable[[], Any]) -> None:
        self.get_hub = get_hub


_EVENTLET_HUBS = _Hubs(_first_get_hub)


class _GeventHub:
    """gevent's hub of one thread, as the green queue and alarm call it."""

    __slots__ = ("_loop", "greenlet", "switch")

    def __init__(self, hub: Any) -> None:
        self.greenlet = hub
        self._loop = hub.loop
        #: Switch to the hub (gevent's own method, not a wrapper of it).
        self.switch: Callable[[], Any] = hub.switch

    def schedule_call_global(self, seconds: float, function: Callable[..., Any], *args: Any) -> Any:
        if seconds <= 0:
            return _Cancel(self._loop.run_callback(function, *args).stop)
        timer = self._loop.timer(seconds)
        timer.start(function, *args)
        return _Cancel(timer.close)


class _Cancel:
    """A scheduled call of gevent's loop, with eventlet's ``cancel()``."""

    __slots__ = ("cancel",)

    def __init__(self, cancel: Callable[[], None]) -> None:
        self.cancel = cancel


# gevent hub (one per thread) -> its _GeventHub.
_gevent_hubs: dict[Any, _GeventHub] = {}


def get_gevent_hub() -> _GeventHub:
    """gevent's hub of this thread, as :class:`_GeventHub`."""
    hub = _gevent_get_hub()
    adapter = _gevent_hubs.get(hub)
    if adapter is None:
        adapter = _gevent_hubs[hub] = _GeventHub(hub)
    return adapter


def _first_gevent_get_hub() -> Any:
    # gevent.get_hub, looked up on the first call (the program imports gevent).
    global _gevent_get_hub
    _gevent_get_hub = _gevent().get_hub
    return _gevent_get_hub()


_gevent_get_hub: Callable[[], Any] = _first_gevent_get_hub


def _gevent() -> Any:
    # The program's gevent (also while the interpreter shuts down, when
    # nothing can be imported any more).
    return sys.modules.get("gevent") or importlib.import_module("gevent")


_GEVENT_HUBS = _Hubs(get_gevent_hub)


__all__ = [
    "EXPIRED",
    "AsyncAlarm",
    "AsyncWaiterQueue",
    "GeventAlarm",
    "GeventWaiterQueue",
    "GreenAlarm",
    "GreenWaiterQueue",
    "ThreadAlarm",
    "ThreadWaiterQueue",
    "await_only",
    "call_within",
    "current_greenthread",
    "gevent_call_within",
    "gevent_spawn",
    "gevent_watch_end",
    "has_ended",
    "in_bridge",
    "run_bridged",
    "spawn_background",
    "spawn_task",
    "spawn_thread",
    "watch_end",
]

# Waiter states. A waiter is WAITING while queued; GRANTED or FAILED once
# somebody decided its fate but before it ran; DONE once it ran (or gave up).
_WAITING = 0
_GRANTED = 1
_FAILED = 2
_DONE = 3


class _Expired:
    """Type of :data:`EXPIRED`; exists only for a readable repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EXPIRED"


#: Returned by :meth:`GreenWaiterQueue.park` when the timeout passed first.
EXPIRED: Any = _Expired()


class _Waiter:
    """One parked greenthread, thread or task, and what it was given.

    ``wake`` is how to wake it: its greenlet, its threading.Condition, or
    its asyncio future. ``front`` marks a waiter that had its turn already
    and waits again, ahead of everyone who arrived after it.
    """

    __slots__ = ("front", "state", "value", "wake")

    def __init__(self, wake: Any) -> None:
        self.wake = wake
        self.state = _WAITING
        self.value: Any = None
        self.front = False


class _HandoffQueue(deque):  # type: ignore[type-arg]
    """What the green and thread waiter queues share: the line, grants and
    cleanup, over :class:`_Waiter` records.

    Each queue parks its own way and says how a waiter is woken
    (:meth:`_notify`); deciding a waiter's fate is the same for both.
    (:class:`AsyncWaiterQueue` keeps the same contract with the tasks'
    futures themselves in line.)

    Waiters that had their turn and wait again (``front``) stand at the
    head of the line, in the order they came back: the first ``_front``
    places. Everybody else is behind them in arrival order.
    """

    __slots__ = ("_front",)

    def __init__(self) -> None:
        super().__init__()
        self._front = 0

    def grant(self, value: Any) -> bool:
        """Hand ``value`` to the first waiter and wake it.

        Never blocks and never switches. Returns False (and keeps nothing)
        when nobody is waiting.
        """
        if not self:
            return False
        waiter = self.popleft()
        if waiter.front:
            self._front -= 1
        waiter.state = _GRANTED
        waiter.value = value
        self._notify(waiter)
        return True

    def fail_all(self, make_error: Callable[[], BaseException]) -> int:
        """Wake every waiter with its own exception from ``make_error()``.

        Returns how many waiters were failed.
        """
        count = len(self)
        self._front = 0
        while self:
            waiter = self.popleft()
            waiter.state = _FAILED
            waiter.value = make_error()
            self._notify(waiter)
        return count

    def cancel(self, waiter: _Waiter, abandon: Callable[[Any], None]) -> None:
        """Take ``waiter`` out for good, passing on anything it was granted."""
        state = waiter.state
        waiter.state = _DONE
        if state is _WAITING:
            self._take_out(waiter)
        elif state is _GRANTED and waiter.value is not EXPIRED:
            abandon(waiter.value)

    def settle(self) -> None:
        """Let waiters that were granted something but have not run yet run.

        Only the green queue can do that from synchronous code; the thread
        queue returns at once (its waiters run in parallel).
        """

    def in_transit(self) -> list[Any]:
        """The values granted to waiters that have not run yet (green only)."""
        return []

    def _line_up(self, waiter: _Waiter, front: bool) -> None:
        if front:
            waiter.front = True
            self.insert(self._front, waiter)
            self._front += 1
        else:
            self.append(waiter)

    def _take_out(self, waiter: _Waiter) -> None:
        # A waiting waiter leaves the line (cancelled, or its time ran out).
        self.remove(waiter)
        if waiter.front:
            self._front -= 1

    @staticmethod
    def _outcome(waiter: _Waiter) -> Any:
        # The waiter ran: what it was granted, or the error it was failed with.
        state = waiter.state
        waiter.state = _DONE
        if state is _FAILED:
            raise waiter.value
        return waiter.value

    def _notify(self, waiter: _Waiter) -> None:
        raise NotImplementedError  # pragma: no cover - each queue has its own


class GreenWaiterQueue(_HandoffQueue):
    """Greenthreads waiting in strict arrival order, served by direct handoff.

    The queue is a deque of the waiters still waiting: a waiter is removed
    the moment it is granted, failed or cancelled, so ``len(queue)`` is the
    number of greenthreads really waiting and ``bool(queue)`` costs no
    Python call on the pool's hot path. Wake-ups are batched into one hub
    timer, as eventlet's own queues do, which keeps a storm of puts cheap.
    """

    __slots__ = ("_to_wake", "_wake_scheduled")

    #: The hub it parks on (eventlet's; :class:`GeventWaiterQueue`: gevent's).
    _hubs = _EVENTLET_HUBS

    def __init__(self) -> None:
        super().__init__()
        self._to_wake: deque[_Waiter] = deque()
        self._wake_scheduled = False

    def park(self, timeout: Optional[float], abandon: Callable[[Any], None], front: bool = False) -> Any:
        """Wait at the back of the queue until granted, failed or expired.

        Args:
          timeout: seconds to wait at most; ``None`` waits for ever.
          abandon: called with the granted value when an exception is thrown
            into this greenthread after the grant but before it resumed. It
            must pass the value on (to the next waiter, or back to the pool).
          front: wait at the front instead, for a greenthread that had its
            turn already (and arrived before everyone now waiting).

        Returns:
          The granted value, or :data:`EXPIRED` when the timeout passed.

        Raises:
          The exception given to :meth:`fail_all`; any exception thrown into
          the greenthread while parked (after cleaning up its place).
        """
        hub = self._hubs.get_hub()
        waiter = _Waiter(getcurrent())
        self._line_up(waiter, front)
        timer = None
        if timeout is not None:
            timer = hub.schedule_call_global(timeout, self._expire, waiter)
        try:
            while waiter.state is _WAITING:
                hub.switch()
        except BaseException:
            self.cancel(waiter, abandon)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return self._outcome(waiter)

    def settle(self, rounds: int = 3) -> None:
        """Yield until every waiter granted a value has run: at most ``rounds``
        switches, and none from the hub (or while nothing is in transit).

        A grant wakes its waiter at the next hub turn, as eventlet's
        switching put() would have run it: one yield is normally enough.
        """
        to_wake = self._to_wake
        if not to_wake:
            return
        hub = self._hubs.get_hub()
        current = getcurrent()
        if current is hub.greenlet:
            return
        for _ in range(rounds):
            if all(waiter.state is _DONE for waiter in to_wake):
                return
            timer = hub.schedule_call_global(0, current.switch)
            try:
                hub.switch()
            finally:
                timer.cancel()

    def in_transit(self) -> list[Any]:
        """The values granted to waiters that have not run yet, in order."""
        return [waiter.value for waiter in self._to_wake if waiter.state is _GRANTED]

    def _expire(self, waiter: _Waiter) -> None:
        # Runs in the hub when the timeout passes. A waiter already granted
        # keeps its grant: the grant happened before the deadline.
        if waiter.state is _WAITING:
            self._take_out(waiter)
            waiter.state = _GRANTED
            waiter.value = EXPIRED
            waiter.wake.switch()

    def _notify(self, waiter: _Waiter) -> None:
        # Wake-ups are batched into one hub timer.
        self._to_wake.append(waiter)
        if not self._wake_scheduled:
            self._wake_scheduled = True
            self._hubs.get_hub().schedule_call_global(0, self._wake)

    def _wake(self) -> None:
        # Runs in the hub. Each switch returns here when the woken greenthread
        # parks again or ends. Waiters appended meanwhile are served by this
        # same loop, in order.
        to_wake = self._to_wake
        try:
            while to_wake:
                waiter = to_wake.popleft()
                # Only GRANTED, FAILED or DONE waiters are queued for waking;
                # DONE means it already resumed or gave up: nothing to wake.
                if waiter.state is not _DONE:
                    waiter.wake.switch()
        finally:
            self._wake_scheduled = False
            if to_wake:
                # A switch raised into the hub; keep the rest from stranding.
                self._wake_scheduled = True
                self._hubs.get_hub().schedule_call_global(0, self._wake)


class GreenAlarm:
    """Lets one greenthread sleep until a deadline that others may move.

    The sleeper calls :meth:`wait`; anybody (another greenthread, a hub
    callback, a weakref callback during garbage collection) may call
    :meth:`reschedule`, :meth:`wake` or :meth:`stop`, none of which blocks or
    switches. The alarm holds no reference to what the sleeper works for, so
    a maintenance greenthread sleeping on it keeps nothing alive.
    """

    __slots__ = ("_sleeper", "_timer", "stopped")

    _hubs = _EVENTLET_HUBS

    def __init__(self) -> None:
        self._sleeper: Any = None
        self._timer: Any = None
        self.stopped = False

    def wait(self, delay: Optional[float]) -> None:
        """Sleep ``delay`` seconds (``None``: until woken); at once if stopped."""
        if self.stopped:
            return
        self._sleeper = getcurrent()
        if delay is not None:
            self._timer = self._hubs.get_hub().schedule_call_global(max(delay, 0.0), self._ring)
        try:
            self._hubs.get_hub().switch()
        finally:
            self._sleeper = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def reschedule(self, delay: float) -> None:
        """Make a sleeping :meth:`wait` return after ``delay`` seconds instead."""
        if self._sleeper is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._hubs.get_hub().schedule_call_global(max(delay, 0.0), self._ring)

    def wake(self) -> None:
        """Make a sleeping :meth:`wait` return at the next hub turn."""
        self.reschedule(0.0)

    def stop(self) -> None:
        """Wake the sleeper, and make every later :meth:`wait` return at once."""
        self.stopped = True
        self.wake()

    def _ring(self) -> None:
        # Runs in the hub. Clearing _sleeper first makes a second ring (a
        # timer that fired while another was being cancelled) a no-op.
        sleeper = self._sleeper
        if sleeper is not None:
            self._sleeper = None
            self._timer = None
            sleeper.switch()


def call_within(seconds: float, function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """``function(*args)`` in this greenthread, interrupted after ``seconds``.

    Returns ``(True, result)``, or ``(False, None)`` when the time ran out
    first (an ``eventlet.Timeout`` of its own was thrown in where the
    function waited; any other exception propagates). Only code that
    switches greenthreads can be interrupted.
    """
    timeout_class = _import_eventlet("eventlet.timeout").Timeout
    timer = timeout_class(max(seconds, 0.0))
    return _call_until(timer, timeout_class, timer.cancel, function, *args)


def _call_until(
    timer: Any, timeout_class: Any, stop: Callable[[], None], function: Callable[..., Any], *args: Any
) -> tuple[bool, Any]:
    # function(*args) under a started ``timer`` of ``timeout_class``: it
    # swallows only that timer's own exception, and stops the timer after.
    try:
        return True, function(*args)
    except timeout_class as exc:
        if exc is not timer:
            raise
        return False, None
    finally:
        stop()


def spawn_background(function: Callable[..., None], *args: Any) -> Any:
    """Start ``function(*args)`` in a new greenthread of this hub; return it.

    The greenthread starts at the next hub turn; when it ends it simply
    returns to the hub. Nothing waits for its result.
    """
    hub = get_hub()
    glet = greenlet(function, parent=hub.greenlet)
    hub.schedule_call_global(0, glet.switch, *args)
    return glet


def current_greenthread() -> Any:
    """The greenthread (greenlet) running now."""
    return getcurrent()


def watch_end(glet: Any, callback: Callable[..., None], *args: Any) -> weakref.ref[Any]:
    """Arrange for ``callback(*args)`` to run once ``glet`` has finished.

    An eventlet ``GreenThread`` (from ``eventlet.spawn``) runs it itself as
    it finishes, also when it is killed or raises: it is often kept alive
    by whoever waits for its result, so its collection would come late. Any
    other greenlet (``spawn_n``, raw greenlets) is watched through a weak
    reference: the callback runs in a new greenthread soon after the greenlet
    is garbage collected, never inside the collector. The main greenlet
    never finishes; neither callback runs for it.

    Returns:
      A weak reference to ``glet``. Keep it for as long as the callback is
      wanted: for plain greenlets the callback dies with it. Pass it to
      :func:`has_ended` to ask whether ``glet`` finished.
    """
    if isinstance(glet, _import_eventlet("eventlet.greenthread").GreenThread):
        glet.link(_call_dropping_first, callback, *args)
        return weakref.ref(glet)
    return weakref.ref(glet, lambda _ref: spawn_background(callback, *args))


def _call_dropping_first(_first: Any, callback: Callable[..., None], *args: Any) -> None:
    # GreenThread.link passes the greenthread first; watch_end's callback
    # does not take it (a greenlet that was collected has none to pass).
    callback(*args)


def has_ended(ref: weakref.ref[Any]) -> bool:
    """True when the greenlet behind ``ref`` (from :func:`watch_end`) finished."""
    glet = ref()
    return glet is None or bool(glet.dead)


# ----------------------------------------------------------------------
# gevent: the same queue and alarm on gevent's hub (its greenlets are
# greenlets too: parking switches to the hub, a grant switches back).


class GeventWaiterQueue(GreenWaiterQueue):
    """:class:`GreenWaiterQueue` for gevent's greenlets."""

    __slots__ = ()
    _hubs = _GEVENT_HUBS


class GeventAlarm(GreenAlarm):
    """:class:`GreenAlarm` for a gevent greenlet."""

    __slots__ = ()
    _hubs = _GEVENT_HUBS


def gevent_call_within(seconds: float, function: Callable[..., Any], *args: Any) -> tuple[bool, Any]:
    """:func:`call_within` with a ``gevent.Timeout`` of its own."""
    timeout_class = _gevent().Timeout
    timer = timeout_class(max(seconds, 0.0))
    timer.start()
    return _call_until(timer, timeout_class, timer.close, function, *args)


def gevent_spawn(function: Callable[..., None], *args: Any) -> Any:
    """:func:`spawn_background` on gevent's hub: a raw greenlet, started at
    the next loop turn."""
    return _gevent().spawn_raw(function, *args)


def gevent_watch_end(glet: Any, callback: Callable[..., None], *args: Any) -> weakref.ref[Any]:
    """:func:`watch_end` for gevent: a ``gevent.Greenlet`` runs the callback
    through its links as it finishes; any other greenlet through a weak
    reference, soon after it is collected."""
    if isinstance(glet, _gevent().Greenlet):
        glet.rawlink(lambda _glet: callback(*args))
        return weakref.ref(glet)
    return weakref.ref(glet, lambda _ref: gevent_spawn(callback, *args))


# ----------------------------------------------------------------------
# The same queue for native threads and for asyncio. They keep
# GreenWaiterQueue's contract: strict arrival order, direct handoff, grant
# never blocks, a waiter interrupted after its grant passes the value on.


# Longest single sleep of a parked thread on its own lock, in seconds.
_THREAD_WAIT_SLICE = 3600.0


class ThreadWaiterQueue(_HandoffQueue):
    """OS threads waiting in strict arrival order, served by direct handoff.

    Every method must be called with ``lock`` (the pool's lock, reentrant)
    held. :meth:`park` releases it while the thread sleeps on a lock of its
    own, which a grant releases: a grant wakes exactly the thread it names
    (no thundering herd, no busy waiting), and the woken thread takes the
    pool's lock back only once the granter has let go of it. Threads cannot
    be killed; only an exception such as KeyboardInterrupt can interrupt a
    parked thread, and then ``abandon`` passes on what it was granted.
    """

    __slots__ = ("_lock",)

    def __init__(self, lock: Any) -> None:
        super().__init__()
        self._lock = lock

    def park(self, timeout: Optional[float], abandon: Callable[[Any], None], front: bool = False) -> Any:
        """Wait (releasing the lock) until granted, failed or expired.

        Returns and raises as :meth:`GreenWaiterQueue.park`.
        """
        return self.park_handoff(timeout, abandon, front, None)[0]

    def park_handoff(
        self,
        timeout: Optional[float],
        abandon: Callable[[Any], None],
        front: bool,
        lock_free: Optional[Callable[[Any], bool]],
    ) -> tuple[Any, bool]:
        """:meth:`park`, but a thread granted a value ``lock_free(value)``
        accepts returns it without taking the pool's lock back (when it held
        it once, as the pool's get() does): the granter did all the
        bookkeeping, so the woken thread does not compete for the lock.

        Returns:
          The value, and whether the lock is held again.
        """
        wake = _allocate_lock()
        wake.acquire()  # released once, by the grant or failure
        waiter = _Waiter(wake)
        self._line_up(waiter, front)
        lock = self._lock
        saved = lock._release_save()  # however many times this thread holds it
        try:
            try:
                woken = _sleep_on(wake, timeout)
            except BaseException:
                lock._acquire_restore(saved)
                raise
        except BaseException:
            self.cancel(waiter, abandon)
            raise
        if (
            woken
            and lock_free is not None
            and saved[0] == 1
            and waiter.state is _GRANTED
            and lock_free(waiter.value)
        ):
            # Granted: nobody but this thread touches the record any more.
            waiter.state = _DONE
            return waiter.value, False
        lock._acquire_restore(saved)
        if waiter.state is _WAITING:
            # Expired, and not granted since: under the lock, no grant races it.
            self._take_out(waiter)
            waiter.state = _DONE
            return EXPIRED, True
        return self._outcome(waiter), True

    def _notify(self, waiter: _Waiter) -> None:
        waiter.wake.release()


def _sleep_on(wake: Any, timeout: Optional[float]) -> bool:
    # Block until ``wake`` is released or ``timeout`` passed; True if woken.
    # In slices: a lock's own timeout overflows near 1e10 s (and at inf).
    if timeout is None:
        while not wake.acquire(True, _THREAD_WAIT_SLICE):
            pass
        return True
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if wake.acquire(True, min(left, _THREAD_WAIT_SLICE)):
            return True


def _import_get_running_loop() -> Any:
    # asyncio.get_running_loop, imported on first use (eventlet users never
    # load asyncio for this library), then called directly.
    global get_running_loop
    import asyncio

    get_running_loop = asyncio.get_running_loop
    return asyncio.get_running_loop()


get_running_loop: Callable[[], Any] = _import_get_running_loop


class AsyncWaiterQueue(deque):  # type: ignore[type-arg]
    """asyncio tasks waiting in strict arrival order, served by direct handoff.

    All methods run in the event loop's thread. The line holds the waiting
    tasks' futures themselves: a grant is the future's result, a failure its
    exception, an expired wait the result :data:`EXPIRED`. Granting resolves
    the future (the task resumes at a later loop turn), so it never blocks
    or yields.

    A coroutine waits with :meth:`wait` (or, on a hot path, :meth:`enter`,
    ``await future``, then :meth:`outcome`, or :meth:`leave` on an
    exception); the pool's synchronous code, run in a bridge greenlet by
    :func:`run_bridged`, waits with :meth:`park`. A task cancelled after it
    was granted, before it resumed, passes the value on through ``abandon``.

    Waiters that wait again after their turn (``front``) stand in the first
    ``_front`` places, in the order they came back.
    """

    __slots__ = ("_front", "_orphans")

    def __init__(self) -> None:
        super().__init__()
        self._front = 0
        # Values granted to a future whose task was cancelled before the
        # grant: kept here until that task runs and passes them on.
        self._orphans: dict[Any, Any] = {}

    def grant(self, value: Any) -> bool:
        """Hand ``value`` to the first waiter and wake it; False if none waits."""
        if not self:
            return False
        future = self.popleft()
        if self._front:
            self._front -= 1
        if future.done():
            # Cancelled, and its task has not run yet: it passes the value on.
            self._orphans[future] = value
        else:
            future.set_result(value)
        return True

    def fail_all(self, make_error: Callable[[], BaseException]) -> int:
        """Wake every waiter with its own exception from ``make_error()``."""
        count = len(self)
        self._front = 0
        while self:
            future = self.popleft()
            if not future.done():
                future.set_exception(make_error())
        return count

    def settle(self) -> None:
        """Nothing to do: a granted task runs at the loop's next turn."""

    def in_transit(self) -> list[Any]:
        """Always empty: values granted to tasks are not tracked."""
        return []

    def enter(self, timeout: Optional[float], front: bool = False) -> tuple[Any, Any]:
        """Line the running task up: returns its future and timeout handle.

        Await the future, then call :meth:`outcome` with both; if the await
        raised, call :meth:`leave` and re-raise.
        """
        loop = get_running_loop()
        future = loop.create_future()
        if front:
            self.insert(self._front, future)
            self._front += 1
        else:
            self.append(future)
        return future, None if timeout is None else loop.call_later(timeout, self._expire, future)

    def outcome(self, future: Any, timer: Any) -> Any:
        """The granted value or :data:`EXPIRED`; raises what it was failed with."""
        if timer is not None:
            timer.cancel()
        return future.result()

    def leave(self, future: Any, timer: Any, abandon: Callable[[Any], None]) -> None:
        """The await of :meth:`enter`'s future raised (CancelledError...): take
        the waiter out of line, passing on anything it was granted."""
        if timer is not None:
            timer.cancel()
        if future in self._orphans:
            abandon(self._orphans.pop(future))
        elif not future.done() or future.cancelled():
            self._take_out(future)
        elif future.exception() is None:  # (also marks a failure as seen)
            value = future.result()
            if value is not EXPIRED:
                abandon(value)

    async def wait(
        self, timeout: Optional[float], abandon: Callable[[Any], None], front: bool = False
    ) -> Any:
        """Wait until granted, failed or expired, in a coroutine.

        Returns and raises as :meth:`park`.
        """
        future, timer = self.enter(timeout, front)
        try:
            await future
        except BaseException:
            self.leave(future, timer, abandon)
            raise
        return self.outcome(future, timer)

    def park(self, timeout: Optional[float], abandon: Callable[[Any], None], front: bool = False) -> Any:
        """:meth:`wait` from synchronous code run by :func:`run_bridged`.

        Returns the granted value, or :data:`EXPIRED`.

        Raises:
          The exception given to :meth:`fail_all`; ``CancelledError`` when the
          task is cancelled (after cleaning up its place); PoolError when
          called outside a bridge (a synchronous get() that would wait).
        """
        future, timer = self.enter(timeout, front)
        try:
            await_only(future)
        except BaseException:
            self.leave(future, timer, abandon)
            raise
        return self.outcome(future, timer)

    def _take_out(self, future: Any) -> None:
        # A waiting future leaves the line (its task was cancelled). It may
        # be gone already: granted (then orphaned) or failed meanwhile.
        for index, waiting in enumerate(self):
            if waiting is future:
                del self[index]
                if index < self._front:
                    self._front -= 1
                return

    def _expire(self, future: Any) -> None:
        # A loop callback when the timeout passes; a granted waiter keeps it.
        if not future.done():
            self._take_out(future)
            future.set_result(EXPIRED)


class ThreadAlarm:
    """:class:`GreenAlarm` for a maintenance OS thread.

    The sleeper calls :meth:`wait`; any thread may call :meth:`reschedule`,
    :meth:`wake` or :meth:`stop`, which only take the alarm's own short lock.
    A :meth:`wake` while nobody sleeps is kept for the next :meth:`wait`
    (another thread may be just about to sleep: the wake must not be lost).
    """

    __slots__ = ("_cond", "_deadline", "_sleeping", "_woken", "stopped")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._deadline: Optional[float] = None
        self._sleeping = False
        self._woken = False
        self.stopped = False

    def wait(self, delay: Optional[float]) -> None:
        """Sleep ``delay`` seconds (``None``: until woken); at once if stopped
        or woken since the last wait."""
        with self._cond:
            if self.stopped or self._woken:
                self._woken = False
                return
            self._deadline = None if delay is None else time.monotonic() + delay
            self._sleeping = True
            try:
                while not self.stopped:
                    deadline = self._deadline
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return
                    self._cond.wait(left)
            finally:
                self._sleeping = False

    def reschedule(self, delay: float) -> None:
        """Make a sleeping :meth:`wait` return after ``delay`` seconds instead."""
        with self._cond:
            if self._sleeping:
                self._deadline = time.monotonic() + max(delay, 0.0)
                self._cond.notify()

    def wake(self) -> None:
        """Make a sleeping :meth:`wait` return now, or the next one at once."""
        with self._cond:
            if self._sleeping:
                self._deadline = time.monotonic()
                self._cond.notify()
            else:
                self._woken = True

    def stop(self) -> None:
        """Wake the sleeper, and make every later :meth:`wait` return at once."""
        with self._cond:
            self.stopped = True
            self._cond.notify()


def spawn_thread(function: Callable[..., None], *args: Any) -> threading.Thread:
    """Start ``function(*args)`` in a daemon thread nobody joins; return it."""
    thread = threading.Thread(target=function, args=args, daemon=True, name="eventlet_pools-upkeep")
    thread.start()
    return thread


# ----------------------------------------------------------------------
# The asyncio bridge. An asyncio pool runs the same synchronous code as the
# other backends, inside a greenlet; where that code must wait, it hands an
# awaitable to the coroutine that started the greenlet, which awaits it and
# switches back with the result (or throws the exception, CancelledError
# included, in at the same point).


class _Bridge(greenlet):  # type: ignore[misc]
    """A greenlet running synchronous pool code for a coroutine."""


def in_bridge() -> bool:
    """Whether this code runs in a bridge greenlet (it may then await)."""
    return isinstance(getcurrent(), _Bridge)


def await_only(awaitable: Any) -> Any:
    """Await ``awaitable`` from synchronous code run by :func:`run_bridged`.

    Raises:
      PoolError: not inside :func:`run_bridged` (a synchronous call on an
        asyncio pool that would have to wait: use the ``a``-methods).
    """
    current = getcurrent()
    if not isinstance(current, _Bridge):
        from eventlet_pools.errors import PoolError

        raise PoolError(
            "this call would wait, and an asyncio pool waits only in its async methods: "
            "use await pool.aget() (or async with pool.aitem())"
        )
    return current.parent.switch(awaitable)


async def run_bridged(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function(*args)`` in a greenlet, awaiting what it awaits."""
    bridge = _Bridge(function)
    request = bridge.switch(*args)
    while not bridge.dead:
        try:
            result = await request
        except BaseException as exc:  # CancelledError too: it lands where it waited
            request = bridge.throw(exc)
        else:
            request = bridge.switch(result)
    return request


class AsyncAlarm:
    """:class:`GreenAlarm` for a maintenance task run by :func:`run_bridged`.

    All methods run in the loop's thread; none of them blocks.
    """

    __slots__ = ("_future", "_timer", "stopped")

    def __init__(self) -> None:
        self._future: Any = None
        self._timer: Any = None
        self.stopped = False

    def wait(self, delay: Optional[float]) -> None:
        """Sleep ``delay`` seconds (``None``: until woken); at once if stopped."""
        import asyncio

        if self.stopped:
            return
        loop = asyncio.get_running_loop()
        self._future = loop.create_future()
        if delay is not None:
            self._timer = loop.call_later(max(delay, 0.0), self._ring)
        try:
            await_only(self._future)
        finally:
            self._future = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def reschedule(self, delay: float) -> None:
        """Make a sleeping :meth:`wait` return after ``delay`` seconds instead."""
        import asyncio

        if self._future is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(max(delay, 0.0), self._ring)

    def wake(self) -> None:
        """Make a sleeping :meth:`wait` return at the next loop turn."""
        self._ring()

    def stop(self) -> None:
        """Wake the sleeper, and make every later :meth:`wait` return at once."""
        self.stopped = True
        self._ring()

    def _ring(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)


def spawn_task(function: Callable[..., None], *args: Any) -> Any:
    """Start ``function(*args)`` bridged in a task of the running loop; return it."""
    import asyncio

    return asyncio.get_running_loop().create_task(run_bridged(function, *args))
