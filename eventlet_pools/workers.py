"""WorkerPool: run functions concurrently on a bounded set of workers.

A worker pool keeps up to ``max_workers`` workers (greenthreads on eventlet
or gevent, OS threads on the threads backend) and a queue of the tasks
waiting for one. A task is a function call; submitting it returns a future
for its result. The queue is ordered by priority (lower numbers first), and
by arrival within a priority; ``qsize`` bounds it, so a producer faster than
the workers waits for room (``submit``) or is told at once (``submit_nowait``
raises :class:`PoolFull`). With ``scaling`` the pool starts workers as
tasks arrive, up to ``max_workers``, and lets those above ``min_workers``
go after ``idle_timeout`` seconds without work; without, it keeps
``max_workers`` workers from the start.

It also answers to ``eventlet.GreenPool``'s names (``spawn``, ``spawn_n``,
``imap``, ``waitall``, ``free``, ``running``, ``waiting``, ``resize``):
``WorkerPool(n, qsize=0)`` is a ``GreenPool(n)`` (with ``qsize=0`` a spawn
waits for a free worker, as GreenPool's does), with priorities, a queue,
``drain``, ``shutdown`` and statistics besides.

How it works: an idle worker parks on a waiter queue of its own, and the
idle workers form a stack, so a submitted task is handed straight to the
most recently idle worker (the others stay idle long enough to retire).
Room for a waiting producer is handed over the same way: when room frees
(a worker took a task, a worker went idle or ended, the pool grew), the
first producer in line is granted it, and nobody submitting later can take
it first. A worker interrupted after it was handed a task (a greenthread
killed) puts the task back in its place in the queue; a producer
interrupted after it was granted room passes the room on. One reaper (a
greenthread or thread, while there are idle workers above ``min_workers``)
retires the longest idle: an idle wait sets no timer of its own.

On threads with an unbounded queue, tasks at the default priority go
through an inbox (a deque) without the lock: a producer appends, a worker
takes from it while nothing more urgent is queued, and counts what it ran
in a tally only it writes; the lock is taken to wake an idle worker, to
start one, and for everything else. :class:`AsyncWorkerPool` puts an async
interface on a threads pool.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Callable, Optional

from greenlet import GreenletExit

from eventlet_pools._backends import Backend, backend_for
from eventlet_pools._validate import check_duration, check_seconds, check_size
from eventlet_pools._waiters import EXPIRED
from eventlet_pools.errors import PoolClosed, PoolError, PoolFull, PoolTimeout
from eventlet_pools.stats import WAIT_WINDOW, percentile

__all__ = ["AsyncWorkerPool", "Results", "WorkFuture", "WorkerPool", "WorkerStats"]

logger = logging.getLogger("eventlet_pools")

# Granted to an idle worker: end now (_STOP), or look at the queue again
# (_LOOK). Granted to a producer: room is yours (_ROOM).
_STOP = object()
_LOOK = object()
_ROOM = object()


@dataclass(frozen=True)
class WorkerStats:
    """A frozen snapshot of a :class:`WorkerPool`.

    Now: ``pending`` tasks queued, ``running`` tasks on a worker (or handed
    to one), ``idle`` workers, ``workers`` alive, the sizes and ``qsize``;
    since the start: tasks ``completed`` (returned), ``failed`` (raised),
    ``cancelled`` (before they ran), and ``uptime`` seconds. ``wait_p50`` /
    ``wait_p99`` are the seconds tasks spent queued before a worker started
    them, over the last :data:`~eventlet_pools.stats.WAIT_WINDOW` tasks
    (``None`` before any ran).
    """

    completed: int
    failed: int
    cancelled: int
    pending: int
    running: int
    idle: int
    workers: int
    min_workers: int
    max_workers: int
    qsize: Optional[int]
    closed: bool
    uptime: float
    wait_p50: Optional[float]
    wait_p99: Optional[float]

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as plain data (``json.dumps`` takes it)."""
        return dataclasses.asdict(self)


class WorkFuture(concurrent.futures.Future):  # type: ignore[type-arg]
    """The future of a task: a ``concurrent.futures.Future`` whose waiting
    (:meth:`result`, :meth:`exception`) yields to other greenthreads on
    eventlet and gevent instead of blocking the hub. :meth:`wait` is
    :meth:`result`, as ``GreenThread.wait()`` is for ``GreenPool.spawn``.
    """

    def __init__(self, backend: Optional[Backend] = None) -> None:
        # Green backends wait cooperatively; threads use the Future's own lock.
        self._green = backend
        if backend is None:
            super().__init__()
            return
        # Green: Future's fields with one shared lock for all (a Condition
        # per future costs a microsecond and eight objects; nothing here
        # waits on it: result() and exception() wait cooperatively).
        self._condition = _GREEN_CONDITION
        self._state = _PENDING
        self._result = None
        self._exception = None
        self._waiters: list[Any] = []
        self._done_callbacks: list[Any] = []

    def result(self, timeout: Optional[float] = None) -> Any:
        """The task's result, waiting up to ``timeout`` seconds for it.

        Raises:
          concurrent.futures.CancelledError: the task was cancelled.
          TimeoutError: it did not end in time.
          Exception: whatever the task raised.
        """
        if self._green is None:
            return super().result(timeout)
        self._wait_green(timeout)
        return super().result(0)

    def exception(self, timeout: Optional[float] = None) -> Optional[BaseException]:
        """What the task raised (None if it returned), waiting as :meth:`result`."""
        if self._green is None:
            return super().exception(timeout)
        self._wait_green(timeout)
        return super().exception(0)

    def wait(self, timeout: Optional[float] = None) -> Any:
        """:meth:`result`, by ``GreenThread.wait()``'s name."""
        return self.result(timeout)

    def _wait_green(self, timeout: Optional[float]) -> None:
        if self.done():
            return
        assert self._green is not None
        line = self._green.waiter_queue()
        self.add_done_callback(lambda _future: line.grant(None))
        if not self.done():  # (cannot change before the park: nothing switches)
            line.park(timeout, _ignore)


def _ignore(_value: Any) -> None:
    pass


# What WorkFuture needs of concurrent.futures.Future's own fields.
_PENDING = concurrent.futures._base.PENDING
_GREEN_CONDITION = threading.Condition()


class _Tally:
    """What one worker thread counts without the lock: the tasks it took
    straight from the inbox, and how they ended. Only its own thread
    writes it; the pool sums every tally (see WorkerPool._free_counts)."""

    __slots__ = ("cancelled", "completed", "failed", "taken")

    def __init__(self) -> None:
        self.taken = 0
        self.completed = 0
        self.failed = 0
        self.cancelled = 0

    def ended(self, outcome: int) -> None:
        if outcome == _COMPLETED:
            self.completed += 1
        elif outcome == _FAILED:
            self.failed += 1
        else:
            self.cancelled += 1


class _Task:
    """One call waiting for a worker, and its place in the queue."""

    __slots__ = ("args", "fn", "future", "key", "kwargs", "queued", "since")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: Optional[WorkFuture],
        key: tuple[int, int],
        since: float,
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.key = key  # (priority, arrival)
        self.queued = False  # in the queue now (not yet taken, not cancelled)
        self.since = since  # when it was submitted

    def __lt__(self, other: _Task) -> bool:
        return self.key < other.key


class WorkerPool:
    """Run functions on at most ``max_workers`` workers; queue the rest.

    ``submit(fn, *args, priority=0, **kwargs)`` returns a :class:`WorkFuture`
    for ``fn(*args, **kwargs)``; an exception in ``fn`` goes to the future
    and never ends the worker. Lower ``priority`` numbers run first; equal
    ones in the order they came. ``map``, ``starmap`` and ``imap`` run a
    function over iterables and give the results in input order.
    ``drain()`` waits until nothing is queued or running; ``shutdown()``
    stops the pool (queued tasks run, or are cancelled with
    ``cancel_pending``); later submits raise :class:`PoolClosed`.

    Args:
      max_workers: most workers at once (>= 1); by default 1000 greenthreads
        on eventlet and gevent, ``min(32, cpu count + 4)`` OS threads on
        threads (as ThreadPoolExecutor).
      min_workers: workers kept even when idle (<= max_workers).
      qsize: most tasks queued at once (0: none, a submit waits for a free
        worker, as ``GreenPool.spawn`` does); ``None`` for no bound.
      scaling: start workers as tasks arrive and retire idle ones above
        ``min_workers`` after ``idle_timeout`` seconds; with False, keep
        ``max_workers`` workers from the start.
      idle_timeout: seconds an idle worker above ``min_workers`` stays.
      backend: ``'auto'``, ``'eventlet'``, ``'gevent'`` or ``'threads'``
        (see :class:`~eventlet_pools.Pool`).

    With ``backend="asyncio"`` (or ``"auto"`` inside a running event loop)
    the pool made is an :class:`AsyncWorkerPool`: OS threads run the
    functions, and the interface is async.

    Raises:
      TypeError, ValueError: a bad size, ``qsize``, ``idle_timeout`` or
        backend.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is WorkerPool and backend_for(kwargs.get("backend", "auto")).is_async:
            return AsyncWorkerPool(*args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        max_workers: Optional[int] = None,
        *,
        min_workers: int = 0,
        qsize: Optional[int] = None,
        scaling: bool = True,
        idle_timeout: float = 30.0,
        backend: str = "auto",
    ) -> None:
        self._backend = backend_for(backend)
        if self._backend.is_async:  # (AsyncWorkerPool's core runs on threads)
            raise ValueError("a WorkerPool's workers are greenthreads or threads: see AsyncWorkerPool")
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4) if self._backend.name == "threads" else 1000
        self._min, self._max = _check_sizes(min_workers, max_workers)
        if qsize is not None:
            check_size("qsize", qsize)
        if not isinstance(scaling, bool):
            raise TypeError(f"scaling must be True or False, got {scaling!r}")
        self._qsize = qsize
        self._scaling = scaling
        self._idle_timeout = check_duration("idle_timeout", idle_timeout, positive=True)
        self._guard = self._backend.guard
        self._green = None if self._backend.name == "threads" else self._backend
        self._clock = time.monotonic
        self._started = self._clock()
        self._heap: list[_Task] = []
        self._arrivals = itertools.count()
        self._pending = 0  # tasks queued (not taken, not cancelled)
        self._outstanding = 0  # tasks accepted and not yet ended
        self._reserved = 0  # room granted to producers not yet used
        self._workers = 0
        # Idle workers (a stack): each one's own waiter queue, and since when.
        self._idle: list[tuple[Any, float]] = []
        self._stopping = 0  # idle workers told to end, not ended yet
        self._reaping = False  # the reaper (retires idle workers) runs
        self._room = self._backend.waiter_queue()  # producers waiting for room
        self._watchers: list[tuple[Callable[[], bool], Any]] = []  # drain/shutdown
        self._members: set[Any] = set()  # the workers (greenthreads, threads)
        # Threads with an unbounded queue: tasks submitted without the lock
        # (see _submit); the others place every task under the lock.
        self._inbox: Optional[deque[_Task]] = deque() if self._green is None and qsize is None else None
        self._tallies: list[_Tally] = []  # the worker threads' (inbox mode)
        self._closed = False
        self._completed = 0
        self._failed = 0
        self._cancelled = 0
        self._waits: deque[float] = deque(maxlen=WAIT_WINDOW)
        # Called (guard held) when room frees up: AsyncWorkerPool's producers.
        self._room_hook: Optional[Callable[[], None]] = None
        with self._guard:
            self._staff()

    # ------------------------------------------------------------------
    # submitting
    def submit(self, fn: Callable[..., Any], /, *args: Any, priority: int = 0, **kwargs: Any) -> WorkFuture:
        """Run ``fn(*args, **kwargs)`` on a worker; its future.

        Waits for room when ``qsize`` tasks are queued.

        Raises:
          PoolClosed: the pool was shut down (also while waiting for room).
          TypeError: ``fn`` is not callable, or ``priority`` not an int.
        """
        return self._submit(fn, args, kwargs, priority, True, None)  # type: ignore[return-value]

    def submit_nowait(
        self, fn: Callable[..., Any], /, *args: Any, priority: int = 0, **kwargs: Any
    ) -> WorkFuture:
        """:meth:`submit`, but never wait for room.

        Raises:
          PoolFull: ``qsize`` tasks are queued (or producers wait for room).
          PoolClosed, TypeError: as :meth:`submit`.
        """
        return self._submit(fn, args, kwargs, priority, False, None)  # type: ignore[return-value]

    def spawn(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> WorkFuture:
        """``GreenPool.spawn``: :meth:`submit` at priority 0; ``.wait()`` on
        the future gives the result."""
        return self._submit(fn, args, kwargs, 0, True, None)  # type: ignore[return-value]

    def spawn_n(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """``GreenPool.spawn_n``: run ``fn(*args, **kwargs)`` with no future;
        what it raises is logged."""
        self._submit(fn, args, kwargs, 0, True, _NO_FUTURE)

    def map(
        self,
        fn: Callable[..., Any],
        /,
        *iterables: Iterable[Any],
        priority: int = 0,
        strict: bool = False,
    ) -> list[Any]:
        """``[fn(*args) for args in zip(*iterables)]``, run on the workers.

        Raises:
          ValueError: with ``strict``, iterables of different lengths (no
            result is returned; calls submitted and not started yet are
            cancelled).
          Exception: the first exception a call raised, in input order (the
            same).
        """
        with self.imap(fn, *iterables, priority=priority, strict=strict) as results:
            return list(results)

    def starmap(
        self, fn: Callable[..., Any], iterable: Iterable[Iterable[Any]], /, *, priority: int = 0
    ) -> list[Any]:
        """``[fn(*args) for args in iterable]``, run on the workers."""
        with Results(self, fn, (tuple(args) for args in iterable), priority) as results:
            return list(results)

    def imap(
        self,
        fn: Optional[Callable[..., Any]],
        /,
        *iterables: Iterable[Any],
        priority: int = 0,
        strict: bool = False,
    ) -> Results:
        """:meth:`map`, lazily: the results in input order as they are
        ready. At most ``max_workers`` calls are submitted ahead of the
        one awaited (the iterables may be endless). A call that raised
        raises when its turn comes, and the iteration can go on (as
        ``GreenPool.imap``). ``fn=None`` gives the argument tuples."""
        return Results(self, _pack if fn is None else fn, _zip(iterables, strict), priority)

    # ------------------------------------------------------------------
    # waiting and stopping
    def drain(self, timeout: Optional[float] = None) -> None:
        """Wait until no task is queued or running.

        Raises:
          PoolTimeout: tasks were still queued or running after ``timeout``.
          PoolError: called from a task of this pool (it would wait for itself).
        """
        self._wait_until(
            lambda: (
                self._outstanding == 0
                and self._reserved == 0
                and not self._inbox
                and self._free_counts()[0] == 0
            ),
            timeout,
            "drain",
        )

    def waitall(self) -> None:
        """``GreenPool.waitall``: :meth:`drain` with no time limit."""
        self.drain()

    def shutdown(self, cancel_pending: bool = False, timeout: Optional[float] = None) -> None:
        """Stop: later submits (and producers waiting for room) get
        PoolClosed; queued tasks run, or with ``cancel_pending`` are
        cancelled; then wait until every worker has ended.

        Raises:
          PoolTimeout: workers were still running tasks after ``timeout``
            (they end as their tasks do).
        """
        with self._guard:
            if not self._closed:
                self._closed = True
                self._room.fail_all(lambda: PoolClosed(f"{self!r} was shut down"))
            self._absorb()
            if cancel_pending:
                self._cancel_queued()
            self._stop_idle(len(self._idle))
            self._notify()
        self._wait_until(lambda: self._workers == 0, timeout, "shutdown")

    def resize(
        self, *sizes: int, min_workers: Optional[int] = None, max_workers: Optional[int] = None
    ) -> None:
        """Change the number of workers: ``resize(max_workers)`` (as
        ``GreenPool.resize``), ``resize(min_workers, max_workers)``, or by
        keyword. Growing starts workers for queued tasks at once; shrinking
        lets idle workers go now and busy ones after their task.

        Raises:
          TypeError, ValueError: bad sizes (``min_workers > max_workers``).
        """
        if len(sizes) > 2 or (sizes and (min_workers is not None or max_workers is not None)):
            raise TypeError("resize() takes max_workers, or min_workers and max_workers")
        if len(sizes) == 1:
            max_workers = sizes[0]
        elif len(sizes) == 2:
            min_workers, max_workers = sizes
        with self._guard:
            new_min = self._min if min_workers is None else min_workers
            new_max = self._max if max_workers is None else max_workers
            if min_workers is None and isinstance(new_max, int) and new_max < new_min:
                new_min = new_max  # resize(n) below min_workers takes min down with it
            self._min, self._max = _check_sizes(new_min, new_max)
            self._absorb()
            self._stop_idle(self._workers - self._stopping - self._max)
            self._staff()
            self._grant_room()

    def free(self) -> int:
        """``GreenPool.free``: workers that could start a task now."""
        return max(0, self._max - self.running())

    def running(self) -> int:
        """Tasks running on a worker (or handed to one)."""
        return self._outstanding - self._pending + self._free_counts()[0]

    def waiting(self) -> int:
        """Tasks queued, plus producers waiting for room."""
        return self._pending + len(self._inbox or ()) + len(self._room)

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` was called."""
        return self._closed

    @property
    def backend(self) -> str:
        """The runtime its workers run on."""
        return self._backend.name

    @property
    def max_workers(self) -> int:
        """Most workers at once."""
        return self._max

    @property
    def min_workers(self) -> int:
        """Workers kept when idle."""
        return self._min

    def stats(self) -> WorkerStats:
        """A :class:`WorkerStats` snapshot."""
        with self._guard:
            self._absorb()
            waits = sorted(self._waits)
            free_running, free_completed, free_failed, free_cancelled = self._free_counts()
            return WorkerStats(
                completed=self._completed + free_completed,
                failed=self._failed + free_failed,
                cancelled=self._cancelled + free_cancelled,
                pending=self._pending,
                running=self._outstanding - self._pending + free_running,
                idle=len(self._idle),
                workers=self._workers,
                min_workers=self._min,
                max_workers=self._max,
                qsize=self._qsize,
                closed=self._closed,
                uptime=self._clock() - self._started,
                wait_p50=percentile(waits, 0.5),
                wait_p99=percentile(waits, 0.99),
            )

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return (
            f"<WorkerPool workers={self._workers}/{self._max} running={self.running()}"
            f" pending={self._pending}{' closed' if self._closed else ''}>"
        )

    # ------------------------------------------------------------------
    # placing tasks (all under the guard)
    def _submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        priority: int,
        block: bool,
        future: Any,
    ) -> Optional[WorkFuture]:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {fn!r}")
        if priority.__class__ is not int and (isinstance(priority, bool) or not isinstance(priority, int)):
            raise TypeError(f"priority must be an int, got {priority!r}")
        task = _Task(
            fn,
            args,
            kwargs,
            WorkFuture(self._green) if future is None else None,
            (priority, next(self._arrivals)),
            self._clock(),
        )
        if self._inbox is not None and priority == 0:
            # Threads, no bound on the queue, the default priority: the task goes in the inbox
            # with no lock (a deque's append is atomic), and workers take
            # it from there; the lock only when a worker must be woken or
            # started (an idle worker re-checks the inbox before it parks).
            if self._closed:
                raise PoolClosed(f"submit to {self!r}")
            self._inbox.append(task)
            # An idle worker is woken for the first task of a burst only:
            # it wakes another if more are queued when it takes one (and no
            # worker parks while the inbox holds anything).
            if (
                (self._idle and len(self._inbox) == 1)
                or self.closed
                or (self._scaling and self._workers < self._max)
            ):
                with self._guard:  # ("closed": shut down since the check above)
                    self._absorb()
                    if self.closed and task.queued:
                        self._unqueue(task)
                        raise PoolClosed(f"submit to {self!r}")
                    self._dispatch()
            return task.future
        with self._guard:
            if self._closed:
                raise PoolClosed(f"submit to {self!r}")
            if self._room or self._room_left() <= 0:
                if not block:
                    raise PoolFull(f"{self!r} has {self._pending} tasks queued (qsize {self._qsize})")
                if self._backend.current() in self._members:
                    # A task of this pool submitting to it, with no room:
                    # waiting could wait for itself. It runs the call
                    # itself instead (as GreenPool.spawn does).
                    inline = True
                else:
                    inline = False
                    self._await_room()
            else:
                inline = False
            if not inline:
                self._place(task)
                return task.future
            self._outstanding += 1
        try:
            outcome = self._run(task)
        except BaseException:
            with self._guard:
                self._account(_FAILED)
            raise
        with self._guard:
            self._account(outcome)
        return task.future

    def _room_left(self) -> float:
        # How many more tasks could be placed now without waiting: idle
        # workers, workers it may still start, queue room; less what was
        # granted to producers already.
        queue = float("inf") if self._qsize is None else self._qsize - self._pending
        startable = self._max - self._workers if self._scaling else 0
        return len(self._idle) + max(0, startable) + queue - self._reserved

    def _await_room(self) -> None:
        # In line for room; returns holding a grant (``_reserved`` counts it).
        try:
            granted = self._room.park(None, self._pass_room)
        except BaseException:
            self._grant_room()  # (whoever is next may fit now)
            raise
        if granted is _ROOM:
            self._reserved -= 1
        if self._closed:
            raise PoolClosed(f"{self!r} was shut down while waiting for room")

    def _pass_room(self, _grant: Any) -> None:
        # A producer granted room was interrupted before it used it.
        self._reserved -= 1
        self._grant_room()

    def _grant_room(self) -> None:
        while self._room and self._room_left() > 0:
            self._reserved += 1
            self._room.grant(_ROOM)
        if self._room_hook is not None and self._room_left() > 0:
            self._room_hook()

    def _place(self, task: _Task) -> None:
        self._outstanding += 1
        if not self._heap:
            if self._idle:
                self._take_idle(-1).grant(task)
                return
            if self._scaling and self._workers < self._max:
                self._start_worker(task)
                return
        heapq.heappush(self._heap, task)
        task.queued = True
        self._pending += 1
        if task.future is not None and self._qsize is not None:
            # A bounded queue frees the room of a task cancelled while
            # queued at once; unbounded, its worker skips it when its turn
            # comes (no callback per task).
            task.future.add_done_callback(functools.partial(self._dropped, task))
        self._staff()

    def _absorb(self) -> None:
        # Move the inbox's tasks into the queue (guard held).
        inbox = self._inbox
        if not inbox:
            return
        heap = self._heap
        while inbox:
            task = inbox.popleft()
            heapq.heappush(heap, task)
            task.queued = True
            self._pending += 1
            self._outstanding += 1

    def _unqueue(self, task: _Task) -> None:
        task.queued = False
        self._pending -= 1
        self._outstanding -= 1

    def _dispatch(self) -> None:
        # Queued tasks to idle workers, and workers started as needed (guard held).
        while self._idle and self._heap:
            task = heapq.heappop(self._heap)
            if task.queued:
                task.queued = False
                self._pending -= 1
                self._take_idle(-1).grant(task)
        self._staff()

    def _dropped(self, task: _Task, _future: Any) -> None:
        # A queued task's future was cancelled: it leaves the queue now.
        with self._guard:
            if task.queued and task.future is not None and task.future.cancelled():
                task.queued = False
                self._pending -= 1
                self._outstanding -= 1
                self._cancelled += 1
                self._grant_room()
                self._notify()

    def _cancel_queued(self) -> None:
        heap, self._heap = self._heap, []
        for task in heap:
            if task.queued:
                task.queued = False
                self._pending -= 1
                self._outstanding -= 1
                self._cancelled += 1
                if task.future is not None:
                    task.future.cancel()

    def _staff(self) -> None:
        # Start the workers the pool should have now: max_workers without
        # scaling; with it, min_workers, and more while tasks are queued.
        want = (
            self._max if not self._scaling else max(self._min, min(self._max, self._workers + self._pending))
        )
        while self._workers < want and not self._closed:
            self._start_worker(None)

    def _start_worker(self, task: Optional[_Task]) -> None:
        self._workers += 1
        try:
            self._backend.spawn(self._work, task)
        except BaseException:
            self._workers -= 1
            raise

    def _take_idle(self, index: int) -> Any:
        return self._idle.pop(index)[0]

    def _idle_index(self, line: Any) -> Optional[int]:
        # (by identity: waiter queues are deques, equal when both empty)
        for index, (idle, _since) in enumerate(self._idle):
            if idle is line:
                return index
        return None

    def _stop_idle(self, count: int) -> None:
        for _ in range(min(count, len(self._idle))):
            self._take_idle(0).grant(_STOP)  # (the longest idle first)
            self._stopping += 1

    def _requeue(self, task: Any) -> None:
        # A worker was handed a task but was killed before it ran it: the
        # task goes back to its place in the queue.
        if not isinstance(task, _Task):
            return
        heapq.heappush(self._heap, task)
        task.queued = True
        self._pending += 1
        if self._idle:  # an idle worker takes it (no new task may come)
            self._take_idle(-1).grant(_LOOK)
        self._staff()

    # ------------------------------------------------------------------
    # the workers
    def _work(self, task: Optional[_Task]) -> None:
        line = self._backend.waiter_queue()
        me = self._backend.current()
        self._members.add(me)
        inbox = self._inbox
        tally: Optional[_Tally] = None
        if inbox is not None:
            tally = _Tally()
            with self._guard:
                self._tallies.append(tally)
        free = False  # the task came from the inbox: counted in the tally
        try:
            if task is None:
                task, free = self._next_locked(line, None, tally)
            while task is not None:
                try:
                    outcome = self._run(task)
                except BaseException:  # (the worker ends: KeyboardInterrupt...)
                    if tally is not None and free:
                        tally.ended(_FAILED)
                    else:
                        with self._guard:
                            self._account(_FAILED)
                    raise
                if tally is None or not free:
                    task, free = self._next_locked(line, outcome, tally)
                    continue
                tally.ended(outcome)
                if self._watchers:  # (drain() registers, then looks again)
                    with self._guard:
                        self._notify()
                task = _take_free(inbox, tally) if self._inbox_first() else None
                if task is None:
                    task, free = self._next_locked(line, None, tally)
                elif inbox and self._idle:  # more waiting, workers idle: one more up
                    with self._guard:
                        if inbox and self._idle:
                            self._take_idle(-1).grant(_LOOK)
        finally:
            with self._guard:
                if tally is not None:
                    self._tallies.remove(tally)
                    self._completed += tally.completed
                    self._failed += tally.failed
                    self._cancelled += tally.cancelled
                self._members.discard(me)
                self._workers -= 1
                index = self._idle_index(line)
                if index is not None:  # (killed while idle)
                    self._take_idle(index)
                self._staff()
                self._grant_room()
                self._notify()

    def _next_locked(
        self, line: Any, outcome: Optional[int], tally: Optional[_Tally]
    ) -> tuple[Optional[_Task], bool]:
        # Account for the task just run, and take the next one: one round
        # of the lock per task. A thread handed a task while parked comes
        # back without taking the lock again (the granter did the books).
        # Returns the task, and whether it came from the inbox.
        guard = self._guard
        guard.__enter__()
        held = True
        try:
            if outcome is not None:
                self._account(outcome)
            task, held, free = self._next_task(line, tally)
            return task, free
        finally:
            if held:
                guard.__exit__(None, None, None)

    def _next_task(self, line: Any, tally: Optional[_Tally]) -> tuple[Optional[_Task], bool, bool]:
        # The next task, whether the guard is still held, and whether the
        # task came straight from the inbox (counted in ``tally``).
        while True:
            if self._inbox and tally is not None and self._inbox_first():
                task = _take_free(self._inbox, tally)
                if task is not None:
                    return task, True, True
            while self._heap:
                task = heapq.heappop(self._heap)
                if task.queued:
                    task.queued = False
                    self._pending -= 1
                    self._grant_room()
                    if self._heap and self._idle:  # more to do: one more worker up
                        self._take_idle(-1).grant(_LOOK)
                    return task, True, False
            if self._closed or self._workers > self._max:
                return None, True, False
            self._idle.append((line, self._clock()))
            if self._inbox:  # (appended since: it was not seen idle)
                self._idle.pop()
                continue
            self._grant_room()  # (qsize=0: a free worker is room)
            self._start_reaper()
            if self._green is None:
                got, held = line.park_handoff(None, self._requeue, False, _is_task)
                if not held:
                    return got, False, False
            else:
                got = line.park(None, self._requeue)
            if got is _STOP:
                self._stopping -= 1
                return None, True, False
            if got is _LOOK:
                continue
            return got, True, False

    def _inbox_first(self) -> bool:
        # Whether the inbox's tasks (priority 0, in arrival order) go before
        # the queue's: when it holds only less urgent ones (or nothing).
        # Read without the lock: a worker's guess, as good as the order of
        # tasks arriving at once.
        try:
            return bool(self._heap[0].key[0] > 0)
        except IndexError:
            return True

    def _start_reaper(self) -> None:
        # Idle workers above min_workers retire after idle_timeout: one
        # reaper sleeps until the longest idle one is due (no timer per
        # idle wait, which a busy pool would pile up in its hub).
        if self._reaping or not self._scaling or self._workers - self._stopping <= self._min:
            return
        if self._backend.can_spawn():
            self._reaping = True
            self._backend.spawn(self._reap)

    def _reap(self) -> None:
        alarm = self._backend.alarm()
        try:
            while True:
                with self._guard:
                    if self._closed or not self._idle or self._workers - self._stopping <= self._min:
                        return
                    delay = self._idle[0][1] + self._idle_timeout - self._clock()
                    if delay <= 0:
                        self._stop_idle(1)
                        continue
                alarm.wait(delay)
        finally:
            with self._guard:
                self._reaping = False

    def _run(self, task: _Task) -> int:
        # Run one task (no guard held); its outcome for _account().
        future = task.future
        if future is not None and not future.set_running_or_notify_cancel():
            return _CANCELLED  # (cancelled while handed over)
        self._waits.append(self._clock() - task.since)
        try:
            result = task.fn(*task.args, **task.kwargs)
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
            else:
                logger.error("%r, run by %r, raised", task.fn, self, exc_info=exc)
            if isinstance(exc, _ENDS_WORKER):
                raise  # the worker itself was killed or interrupted: it ends (counted by it)
            return _FAILED
        if future is not None:
            future.set_result(result)
        return _COMPLETED

    def _account(self, outcome: int) -> None:
        # A task ended (guard held).
        self._outstanding -= 1
        if outcome == _COMPLETED:
            self._completed += 1
        elif outcome == _FAILED:
            self._failed += 1
        else:
            self._cancelled += 1
        if self._watchers:
            self._notify()

    # ------------------------------------------------------------------
    def _wait_until(self, predicate: Callable[[], bool], timeout: Optional[float], what: str) -> None:
        wait = check_seconds("timeout", timeout)
        with self._guard:
            if predicate():
                return
            if self._backend.current() in self._members:
                raise PoolError(f"{what}() from a task of {self!r} would wait for itself")
            line = self._backend.waiter_queue()
            entry = (predicate, line)
            self._watchers.append(entry)
            try:
                # Registered, then looked at again: a worker that ended a
                # task without the lock sees the watcher, or this sees it.
                if predicate():
                    return
                done = line.park(wait, _ignore)
            finally:
                if entry in self._watchers:
                    self._watchers.remove(entry)
            if done is EXPIRED and not predicate():
                raise PoolTimeout(f"{what}() waited {wait} s: {self!r}")

    def _free_counts(self) -> tuple[int, int, int, int]:
        # The worker threads' lock-free counts: running, completed, failed,
        # cancelled (each tally written by its thread only; read as is).
        running = completed = failed = cancelled = 0
        for tally in list(self._tallies):
            completed += tally.completed
            failed += tally.failed
            cancelled += tally.cancelled
            running += tally.taken - tally.completed - tally.failed - tally.cancelled
        return running, completed, failed, cancelled

    def _notify(self) -> None:
        for entry in list(self._watchers):
            predicate, line = entry
            if predicate():
                self._watchers.remove(entry)
                line.grant(True)


class AsyncWorkerPool:
    """A :class:`WorkerPool` for asyncio: OS threads run plain (blocking)
    functions, and tasks of one event loop submit them and await their
    results without blocking the loop (asyncutils' AdvancedPool).

    ``await pool.complete(fn, *args, priority=0, **kwargs)`` runs a call
    and returns its result; ``await pool.submit(...)`` waits for room in
    the queue and returns an asyncio future; ``submit_nowait`` raises
    :class:`PoolFull` instead of waiting; ``map``, ``starmap``,
    ``doublestarmap`` and ``starmap_with_kwds`` gather results in input
    order. ``async with AsyncWorkerPool(...)`` shuts it down on exit.
    Priorities, the bounded queue, scaling, ``resize`` and ``stats`` are
    :class:`WorkerPool`'s. A task cancelled while it waits for room leaves
    the line; cancelling an awaited result cancels the call if it has not
    started (a running function cannot be interrupted: it finishes).

    The arguments are :class:`WorkerPool`'s; ``max_workers`` defaults to
    ``min(32, cpu count + 4)`` threads.
    """

    def __init__(
        self,
        max_workers: Optional[int] = None,
        *,
        min_workers: int = 0,
        qsize: Optional[int] = None,
        scaling: bool = True,
        idle_timeout: float = 30.0,
        backend: str = "asyncio",
    ) -> None:
        if backend not in ("asyncio", "auto"):
            raise ValueError(f"AsyncWorkerPool runs on asyncio, not backend={backend!r}")
        self._core = WorkerPool(
            max_workers,
            min_workers=min_workers,
            qsize=qsize,
            scaling=scaling,
            idle_timeout=idle_timeout,
            backend="threads",
        )
        # Producers waiting for room: their futures, in arrival order (loop thread only).
        self._line: deque[Any] = deque()
        import asyncio

        self._wrap = asyncio.wrap_future
        self._loop: Any = None
        self._core._room_hook = self._room_freed

    @property
    def backend(self) -> str:
        """``'asyncio'``."""
        return "asyncio"

    @property
    def closed(self) -> bool:
        """True once :meth:`shutdown` was called."""
        return self._core.closed

    @property
    def max_workers(self) -> int:
        """Most worker threads at once."""
        return self._core.max_workers

    @property
    def min_workers(self) -> int:
        """Worker threads kept when idle."""
        return self._core.min_workers

    def submit_nowait(self, fn: Callable[..., Any], /, *args: Any, priority: int = 0, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on a worker thread; an asyncio future
        of its result. Never waits.

        Raises:
          PoolFull: ``qsize`` calls are queued, or tasks wait for room.
          PoolClosed: the pool was shut down.
          TypeError: ``fn`` is not callable, or ``priority`` not an int.
        """
        import asyncio

        if self._line:
            raise PoolFull(f"{self!r}: tasks are waiting for room")
        return asyncio.wrap_future(self._core.submit_nowait(fn, *args, priority=priority, **kwargs))

    async def submit(self, fn: Callable[..., Any], /, *args: Any, priority: int = 0, **kwargs: Any) -> Any:
        """:meth:`submit_nowait`, waiting for room when the queue is full
        (in line with the other tasks waiting: first come, first served)."""
        import asyncio

        front = False
        while True:
            await self._room(None, front)
            try:
                future = self._core.submit_nowait(fn, *args, priority=priority, **kwargs)
            except PoolFull:  # (taken first by a call submitted from a thread)
                front = True
                continue
            self._wake_first()  # room for more: the next in line may go
            return asyncio.wrap_future(future)

    def complete(
        self, fn: Callable[..., Any], /, *args: Any, priority: int = 0, **kwargs: Any
    ) -> Awaitable[Any]:
        """``await pool.complete(fn, *args, **kwargs)``: run the call on a
        worker thread and return its result (or raise what it raised).

        With room in the queue and nobody waiting for it, the call is
        submitted at once and its future returned (no task to wrap a
        coroutine: ``asyncio.gather`` of many stays cheap); otherwise a
        coroutine that waits for room first.
        """
        if not self._line:
            try:
                future = self._core.submit_nowait(fn, *args, priority=priority, **kwargs)
            except PoolFull:
                pass
            else:
                return self._wrap(future)
        return self._complete_later(fn, args, priority, kwargs)

    async def _complete_later(
        self, fn: Callable[..., Any], args: tuple[Any, ...], priority: int, kwargs: dict[str, Any]
    ) -> Any:
        return await (await self.submit(fn, *args, priority=priority, **kwargs))

    async def wait_for_slot(self, timeout: Optional[float] = None) -> float:
        """Wait until a submit would not wait; the seconds it took.

        Raises:
          PoolTimeout: no room within ``timeout`` seconds.
        """
        started = time.monotonic()
        await self._room(check_seconds("timeout", timeout), False)
        self._wake_first()  # (it takes no room: the next in line may go)
        return time.monotonic() - started

    async def map(
        self, fn: Callable[..., Any], /, *iterables: Iterable[Any], priority: int = 0, strict: bool = False
    ) -> list[Any]:
        """``[fn(*args) for args in zip(*iterables)]`` on the workers, in input order.

        Raises:
          ValueError: with ``strict``, iterables of different lengths.
          Exception: the first exception a call raised, in input order (the
            calls not started are cancelled).
        """
        return await self._gather(fn, ((args, {}) for args in _zip(iterables, strict)), priority)

    async def starmap(
        self, fn: Callable[..., Any], iterable: Iterable[Iterable[Any]], /, priority: int = 0
    ) -> list[Any]:
        """``[fn(*args) for args in iterable]`` on the workers."""
        return await self._gather(fn, ((tuple(args), {}) for args in iterable), priority)

    async def doublestarmap(
        self, fn: Callable[..., Any], iterable: Iterable[Any], /, priority: int = 0
    ) -> list[Any]:
        """``[fn(**kwargs) for kwargs in iterable]`` on the workers."""
        return await self._gather(fn, (((), dict(kwargs)) for kwargs in iterable), priority)

    async def starmap_with_kwds(
        self, fn: Callable[..., Any], iterable: Iterable[Any], /, priority: int = 0
    ) -> list[Any]:
        """``[fn(*args, **kwargs) for args, kwargs in iterable]`` on the workers."""
        return await self._gather(fn, ((tuple(args), dict(kwargs)) for args, kwargs in iterable), priority)

    async def drain(self, timeout: Optional[float] = None) -> None:
        """Wait until nothing is queued or running.

        Raises:
          PoolTimeout: tasks still queued or running after ``timeout``.
        """
        import asyncio

        await asyncio.to_thread(self._core.drain, timeout)

    async def shutdown(self, cancel_pending: bool = False, timeout: Optional[float] = None) -> None:
        """Stop (see :meth:`WorkerPool.shutdown`): tasks waiting for room get
        PoolClosed; then wait for every worker thread to end."""
        import asyncio

        line, self._line = self._line, deque()
        for future in line:
            if not future.done():
                future.set_exception(PoolClosed(f"{self!r} was shut down while waiting for room"))
        await asyncio.to_thread(self._core.shutdown, cancel_pending, timeout)

    def resize(
        self, *sizes: int, min_workers: Optional[int] = None, max_workers: Optional[int] = None
    ) -> None:
        """As :meth:`WorkerPool.resize`."""
        self._core.resize(*sizes, min_workers=min_workers, max_workers=max_workers)

    def stats(self) -> WorkerStats:
        """As :meth:`WorkerPool.stats`."""
        return self._core.stats()

    def running(self) -> int:
        """Calls running on a worker thread (or handed to one)."""
        return self._core.running()

    def waiting(self) -> int:
        """Calls queued, plus tasks waiting for room."""
        return self._core.waiting() + len(self._line)

    def free(self) -> int:
        """Worker threads that could start a call now."""
        return self._core.free()

    async def __aenter__(self) -> AsyncWorkerPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    def __repr__(self) -> str:
        return "<Async" + repr(self._core)[1:]

    # ------------------------------------------------------------------
    async def _room(self, timeout: Optional[float], front: bool) -> None:
        # Wait in line until the core has room for one more call.
        import asyncio

        if self._core.closed:
            raise PoolClosed(f"submit to {self!r}")
        if not self._line and self._core._room_left() > 0:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        future = loop.create_future()
        if front:
            self._line.appendleft(future)
        else:
            self._line.append(future)
        self._wake_first()  # (room may have freed before it lined up)
        served = False
        try:
            if timeout is None:
                await future
            else:
                await asyncio.wait_for(asyncio.shield(future), timeout)
            served = True
        except asyncio.TimeoutError:
            raise PoolTimeout(f"waited {timeout} s for room in {self!r}") from None
        finally:
            if future in self._line:
                self._line.remove(future)
            turn = future.done() and not future.cancelled() and future.exception() is None
            if not future.done():
                future.cancel()
            if turn and not served:
                self._wake_first()  # its turn came as it gave up: the next one's now

    def _room_freed(self) -> None:
        # From the core (a worker thread, guard held) or the loop: wake the
        # first producer in line at the loop's next turn.
        loop = self._loop
        if self._line and loop is not None:
            loop.call_soon_threadsafe(self._wake_first)

    def _wake_first(self) -> None:
        # In the loop: the first producer whose turn it is may submit now.
        if self._line and (self._core._room_left() > 0 or self._core.closed):
            future = self._line[0]
            if not future.done():
                future.set_result(None)

    async def _gather(
        self, fn: Callable[..., Any], calls: Iterator[tuple[tuple[Any, ...], dict[str, Any]]], priority: int
    ) -> list[Any]:
        import asyncio

        futures = []
        try:
            for args, kwargs in calls:
                futures.append(await self.submit(fn, *args, priority=priority, **kwargs))
            return list(await asyncio.gather(*futures))
        except BaseException:
            for future in futures:
                future.cancel()
            raise


class Results:
    """The lazy results of :meth:`WorkerPool.imap`, in input order.

    An iterator (``next(results)``; ``results.next()`` too, as
    ``GreenPool.imap``'s) and a context manager: leaving the ``with``
    block, or :meth:`close`, cancels the calls submitted ahead that have
    not started.
    """

    def __init__(
        self, pool: WorkerPool, fn: Callable[..., Any], calls: Iterator[tuple[Any, ...]], priority: int
    ) -> None:
        self._pool = pool
        self._fn = fn
        self._calls = calls
        self._priority = priority
        self._ahead: deque[WorkFuture] = deque()
        self._window = pool.max_workers  # (enough to keep every worker busy)
        self._more = True

    def __iter__(self) -> Results:
        return self

    def __next__(self) -> Any:
        while self._more and len(self._ahead) < self._window:
            try:
                args = next(self._calls)
            except StopIteration:
                self._more = False
                break
            except BaseException:
                self.close()
                raise
            self._ahead.append(self._pool.submit(self._fn, *args, priority=self._priority))
        if not self._ahead:
            raise StopIteration
        return self._ahead.popleft().result()

    next = __next__

    def close(self) -> None:
        """Stop: cancel the calls submitted ahead that have not started."""
        self._more = False
        while self._ahead:
            self._ahead.popleft().cancel()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _take_free(inbox: Any, tally: _Tally) -> Optional[_Task]:
    # A task from the inbox without the lock (counted as taken first, so
    # that drain() never finds it nowhere), or None if it is empty.
    tally.taken += 1
    try:
        task: _Task = inbox.popleft()
    except IndexError:
        tally.taken -= 1
        return None
    return task


def _is_task(value: Any) -> bool:
    return isinstance(value, _Task)


def _pack(*args: Any) -> tuple[Any, ...]:
    return args


# A task submitted with no future (spawn_n).
_NO_FUTURE = object()

# How a task ended.
_COMPLETED, _FAILED, _CANCELLED = 0, 1, 2

# What a task may raise that ends its worker (aimed at the worker: a kill,
# an interrupt), after the task's future got it. Anything else, eventlet's
# and gevent's Timeout included, is the task's own failure.
_ENDS_WORKER = (GreenletExit, KeyboardInterrupt, SystemExit)


def _check_sizes(min_workers: object, max_workers: object) -> tuple[int, int]:
    low = check_size("min_workers", min_workers)
    high = check_size("max_workers", max_workers, least=1)
    if low > high:
        raise ValueError(f"min_workers ({low}) must not exceed max_workers ({high})")
    return low, high


def _zip(iterables: tuple[Iterable[Any], ...], strict: bool) -> Iterator[tuple[Any, ...]]:
    # zip(), with zip(strict=True)'s check on every Python.
    if not iterables:
        raise TypeError("map() needs at least one iterable")
    if not strict:
        yield from zip(*iterables)
        return
    iterators = [iter(it) for it in iterables]
    while True:
        row = []
        for index, iterator in enumerate(iterators):
            try:
                row.append(next(iterator))
            except StopIteration:
                if index == 0 and all(_exhausted(rest) for rest in iterators[1:]):
                    return
                raise ValueError("map(strict=True): the iterables have different lengths") from None
        yield tuple(row)


def _exhausted(iterator: Iterator[Any]) -> bool:
    try:
        next(iterator)
    except StopIteration:
        return True
    return False
