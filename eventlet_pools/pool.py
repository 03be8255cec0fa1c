"""Pool: free items, capacity, get/put/item/resize/close; its other parts
(the tracked path, maintenance, events and statistics) are mixed in from
modules of their own (see _base.py)."""

from __future__ import annotations

import logging
import threading
from collections import deque
from types import TracebackType
from typing import Any, Callable, Generic, Optional, Protocol, TypeVar, Union

from eventlet_pools import _waiters
from eventlet_pools._backends import AwaitNeeded, Backend, backend_for
from eventlet_pools._base import NO_ITEM, Slot, guarded, remove_identical
from eventlet_pools._observe import Observed
from eventlet_pools._tracked import TrackedPath
from eventlet_pools._validate import check_callable, check_get_args, check_seconds, check_size
from eventlet_pools._waiters import EXPIRED, in_bridge, run_bridged
from eventlet_pools.errors import PoolClosed, PoolError, PoolTimeout, TooManyWaiters
from eventlet_pools.events import Listener
from eventlet_pools.lifecycle import Backoff, Options, Record
from eventlet_pools.maintenance import Maintenance, Upkeep
from eventlet_pools.stats import Counters

__all__ = ["Channel", "Pool"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _ItemBlock(Protocol[T_co]):
    # What item() returns: a context manager whose block holds the item,
    # with discard() to drop it instead of giving it back.
    def __enter__(self) -> T_co: ...

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

    def discard(self) -> None: ...


logger = logging.getLogger("eventlet_pools")

# Makes an item() context without calling an __init__ (a hot path).
_new_context = object.__new__


def _is_item(granted: Any) -> bool:
    # A grant that is an item, not a creation slot (which needs the lock).
    return type(granted) is not Slot


# What the helpers of _acquire return instead of an item: "park first", and
# "the granted slot was taken back: park again".
_WAIT: Any = object()
_AGAIN: Any = object()
# From _acquire_now(create=False): a creation slot is reserved for the caller.
_CREATE: Any = object()


class Pool(Observed[T], Maintenance[T], TrackedPath[T]):
    """A bounded set of reusable items, handed out to greenthreads one at a time.

    The pool creates items on demand, up to ``max_size`` alive at once, and
    keeps the ones that come back in ``free_items`` for the next caller. When
    all of them are checked out, callers wait in strict arrival order; a
    returned item is handed straight to the first of them. Nothing is lost to
    faults: when ``create()`` raises, or a waiter times out or is killed, the
    capacity it held goes to the next waiter.

    It is a drop-in for :class:`eventlet.pools.Pool`: subclass it and
    override :meth:`create`, or pass ``create=``. The attributes
    ``min_size``, ``max_size``, ``order_as_stack``, ``current_size`` and
    ``free_items`` mean what they mean there.

    Items that age or break are what the lifecycle options are for: each is
    off by default, and a pool with none of them set (and no checkout or
    checkin listener) keeps no per-item state and runs at the core's speed.
    Time-based options are watched by one maintenance greenthread per pool,
    started when first needed and stopped by :meth:`close` (or when the pool
    is garbage collected). :meth:`listen` subscribes to events,
    :meth:`stats` and :meth:`status` report.

    With the eventlet backend all methods are for greenthreads of one hub
    (one OS thread): the pool is cooperative, not thread-safe. With
    ``backend='threads'`` it is thread-safe, with the same FIFO handoff.

    Args:
      min_size: items created at construction; with lifecycle options set,
        maintenance also refills up to it (never above ``max_size``).
      max_size: most items kept alive at once (checked out, free, or being
        created). Change it at run time with :meth:`resize`.
      order_as_stack: hand out the most recently returned item first
        (keeps a warm few in use); by default items go round-robin.
      create: zero-argument callable making a new item; by default the
        :meth:`create` method, which subclasses override.
      timeout: default seconds :meth:`get` waits; ``None`` waits for ever.
      dispose: called with each item the pool drops (closed, discarded,
        shrunk away, recycled); by default the :meth:`dispose` method, which
        does nothing. An exception from it is logged and swallowed.
      max_age: seconds after its creation an item is never handed out
        again: disposed when it comes back or is found free.
      max_idle: seconds a free item may sit unused before maintenance
        disposes it, never going below ``min_size``.
      max_uses: checkouts after which an item is disposed on return.
      max_overflow: items allowed above ``max_size`` while all are busy;
        they are disposed when they come back and nobody waits.
      check: ``check(item) -> bool`` run before an item is handed out again
        (pre-ping). False or an exception disposes it, and the caller gets
        another or a new one. On eventlet it is interrupted at the caller's
        get() deadline (the item is disposed, PoolTimeout raised); threads
        and asyncio cannot interrupt it.
      reset: ``reset(item)`` run when an item comes back (e.g. rollback). An
        exception disposes the item; the slot goes to the next waiter. It
        runs in the greenthread calling :meth:`put`, so put() switches if
        reset() does.
      health_check_interval: seconds between maintenance's ``check`` of
        each free item (needs ``check``).
      max_hold: seconds a checkout may last before it is reported as a
        probable leak (a logged warning and a ``leak`` event, with the stack
        where it was checked out).
      reclaim_after: seconds after which a checkout's slot is taken back
        from its holder; the item is disposed when it finally comes back,
        and that late put() only logs a warning.
      create_retry: ``True`` or a :class:`Backoff`: when ``create()`` fails,
        maintenance retries with exponential backoff (also when filling
        ``min_size`` at construction: the pool comes up regardless); a
        waiting caller whose timeout passes first gets a PoolTimeout whose
        ``__cause__`` is the creation error.
      reconnect_timeout: with ``create_retry``: seconds of failing creates
        after which ``reconnect_failed`` is called (and again after each
        further ``reconnect_timeout``); without it, an error is logged.
      reconnect_failed: ``reconnect_failed(pool)`` (may be async on
        asyncio): returns False to stop retrying (the callers waiting get a
        PoolTimeout chained to the creation error; a later get() starts
        again), anything else to go on.
      clock: monotonic clock in seconds for every time-based option; by
        default the backend's (``time.monotonic``).
      max_waiting: most callers waiting in line at once; a get() that would
        be one more raises :class:`TooManyWaiters` at once (load shedding).
        ``None``: no limit.
      name: the pool's name, in its repr (so in logs), its stats, and
        reachable from events as ``event.pool.name``.
      backend: ``'eventlet'`` (greenthreads of one hub), ``'threads'``
        (native OS threads: every method takes the pool's lock, waiters
        sleep without it, create() runs without it, maintenance is a
        daemon thread), ``'asyncio'`` (tasks of one event loop: wait with
        :meth:`aget`/:meth:`aitem`; maintenance is a task; ``create``,
        ``check``, ``reset`` and ``dispose`` may be coroutine functions,
        awaited in the ``a``-methods and :meth:`aclose`), or ``'auto'``:
        eventlet if the program imported eventlet, else asyncio if made
        inside a running loop, else threads.

    Raises:
      TypeError: an argument of the wrong type.
      ValueError: a negative size, a timeout below 0, a duration that is
        not > 0, ``min_size > max_size``, ``health_check_interval`` without
        ``check``, ``reclaim_after`` shorter than ``max_hold``, or an
        unknown backend.
      Exception: whatever ``create()`` raises while filling ``min_size``
        (the items already made are disposed), unless ``create_retry`` is set.
    """

    # A put() with nothing checked out raises PoolError when true; when false
    # (eventlet's pool and its subclasses) the stray item is dropped with a
    # warning, so that placeholders put back after a failed create() work.
    _strict_put = False

    # True while get() and put() are Pool's own (set for each subclass):
    # item() may then run their fast paths inline.
    _plain_item = True
    # True while get() is Pool's own: aget() may then wait natively.
    _plain_get = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._plain_item = cls.get is Pool.get and cls.put is Pool.put
        cls._plain_get = cls.get is Pool.get

    # The attributes get() and put() touch on their fast paths live in
    # slots: their speed then does not depend on how many attributes a
    # subclass adds to the instance dict (the rest of the state lives there).
    __slots__ = (
        "_aget_native",
        "_free",
        "_get_gate",
        "_gets",
        "_item_fast",
        "_push",
        "_push_cap",
        "_size",
    )

    def __init__(
        self,
        min_size: int = 0,
        max_size: int = 4,
        order_as_stack: bool = False,
        create: Optional[Callable[[], T]] = None,
        *,
        timeout: Optional[float] = None,
        dispose: Optional[Callable[[T], Any]] = None,
        max_age: Optional[float] = None,
        max_idle: Optional[float] = None,
        max_uses: Optional[int] = None,
        max_overflow: int = 0,
        check: Optional[Callable[[T], Any]] = None,
        reset: Optional[Callable[[T], Any]] = None,
        health_check_interval: Optional[float] = None,
        max_hold: Optional[float] = None,
        reclaim_after: Optional[float] = None,
        create_retry: Union[bool, Backoff, None] = None,
        reconnect_timeout: Optional[float] = None,
        reconnect_failed: Optional[Callable[[Any], Any]] = None,
        clock: Optional[Callable[[], float]] = None,
        backend: str = "auto",
        max_waiting: Optional[int] = None,
        name: Optional[str] = None,
    ) -> None:
        check_size("min_size", min_size)
        if max_waiting is not None:
            check_size("max_waiting", max_waiting)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {name!r}")
        self._max_waiting = max_waiting
        self._name = name
        self._suspended = False  # suspend(): gets wait, nothing is handed out
        self._ready_lines: list[Any] = []  # wait(): one waiter queue per caller
        # drain(): while items made before it are still out, the ones made
        # since (by id); every other item coming back is disposed.
        self._fresh: Optional[dict[int, T]] = None
        self._drain_old = 0
        check_size("max_size", max_size)
        if min_size > max_size:
            raise ValueError(f"min_size ({min_size}) must not exceed max_size ({max_size})")
        check_callable("create", create)
        check_callable("dispose", dispose)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be callable, got {clock!r}")
        self._opts = Options(
            max_age=max_age,
            max_idle=max_idle,
            max_uses=max_uses,
            max_overflow=max_overflow,
            check=check,
            reset=reset,
            health_check_interval=health_check_interval,
            max_hold=max_hold,
            reclaim_after=reclaim_after,
            create_retry=create_retry,
            reconnect_timeout=reconnect_timeout,
            reconnect_failed=reconnect_failed,
        )
        self._timeout = check_seconds("timeout", timeout)
        # Everything that differs between runtimes comes from the backend.
        self._backend: Backend = backend_for(backend)
        self._clock = self._backend.clock if clock is None else clock
        # With threads one reentrant lock guards all state (waiters sleep
        # without it); elsewhere there is none and the guard is a no-op.
        self._lock: Optional[threading.RLock] = self._backend.lock
        self._guard: Any = self._backend.guard
        self._waiters: Any = self._backend.waiter_queue()
        self._min_size = min_size
        self._max_size = max_size
        if create is not None:
            self.create = create  # type: ignore[method-assign]
        if dispose is not None:
            self.dispose = dispose  # type: ignore[method-assign,assignment]
        # _size (current_size) counts every item alive or being created:
        #   checked out + len(free_items) + _creating == current_size
        # An item handed to a waiter is checked out from then on.
        self._size = 0
        self._free: deque[T] = deque()
        self.order_as_stack = order_as_stack  # binds _push to self._free
        # With no dispose of its own, a shrinking resize() lets the extra
        # items leave through put(), as eventlet's pool does (a subclass
        # written for it closes them there); otherwise free extras go now.
        self._dispose_now = dispose is not None or type(self).dispose is not Pool.dispose
        # Slots reserved for a create() in progress or granted to a waiter.
        self._creating = 0
        # The slots granted to waiters that have not run yet, oldest first,
        # and those of them a shrink took back (see _revoke_slots).
        self._slots: deque[Slot] = deque()
        self._revoked: deque[Slot] = deque()
        self._closed = False
        # The size the pool may grow to: max_size + max_overflow while open,
        # -1 once closed. Waiters are granted capacity, and put() keeps an
        # item, only within it, so one comparison covers "shrunk" and "closed".
        self._limit = max_size + self._opts.max_overflow
        # Counters for stats(); get() counts on its fast path, the rest on
        # slow paths only.
        self._gets = 0
        self._counts = Counters()
        # Timeouts counted before the last pop_stats() (for a running total).
        self._timeouts_before = 0
        # How long the last create() took (for the create event).
        self._took = 0.0
        # Asked before check() on checkout: True passes the item with no
        # check() call and no timer (set by ConnectionPool: see there).
        self._known_good: Optional[Callable[[Any, Record], bool]] = None
        self._listeners: dict[str, tuple[Listener, ...]] = {}
        # Per-item records, kept only while _managed (see lifecycle.py).
        self._records: dict[int, Record] = {}
        self._upkeep: Optional[Upkeep] = None
        # item() contexts holding an item, by id(item), so that discard()
        # of an item inside ``with pool.item()`` keeps the block from
        # putting it back.
        self._in_context: dict[int, _ItemContext[T]] = {}
        # create_retry state: when maintenance retries, and what failed last.
        self._retry_due: Optional[float] = None
        self._retry_attempt = 0
        self._create_error: Optional[Exception] = None
        self._failing_since: Optional[float] = None  # a streak of failed creates began
        # Tasks finishing an async dispose() started from synchronous code
        # (asyncio): aclose() waits for them.
        self._pending_hooks: set[Any] = set()
        self._managed = False
        # Items checked out before tracking started (see _set_mode).
        self._untracked_out = 0
        self._set_mode()
        try:
            for _ in range(min_size):
                self._reserve_slot()
                try:
                    new = self._new_item()
                except AwaitNeeded:
                    # An async create() (asyncio), and no coroutine to await
                    # it in here: a task of the running loop fills the pool,
                    # or, made outside a loop, it grows as it is used.
                    self._cancel_slot()
                    if self._backend.can_spawn():
                        self._spawn(self._refill)
                    break
                except Exception as exc:
                    self._cancel_slot()
                    if self._opts.create_retry is None:
                        raise
                    # Riding out an outage is what create_retry is for: the
                    # pool comes up, and maintenance fills it when it can.
                    self._schedule_retry(exc)
                    break
                except BaseException:
                    self._cancel_slot()
                    raise
                self._slot_filled()
                self._free.append(new)
        except BaseException:
            self.close()
            raise
        if self._opts.timed and self._size:
            # The prefilled items' deadlines get scheduled by a first round.
            self._need_upkeep_by(self._clock())

    # ------------------------------------------------------------------
    # the hot path: uncontended get/put touch only these few lines
    def get(self, block: bool = True, timeout: Optional[float] = None) -> T:
        """Return an item, creating one or waiting for one as needed.

        A free item is handed out first; below ``max_size`` a new one is
        created; otherwise the caller waits behind earlier callers.

        Args:
          block: with False, never wait: raise PoolTimeout at once instead
            (also when other greenthreads are already waiting).
          timeout: seconds to wait; ``None`` uses the pool's ``timeout``.

        Raises:
          PoolTimeout: nothing came in time (or at once, with block=False).
          PoolClosed: the pool is closed, or was closed while waiting.
          Exception: whatever ``create()`` raises; the capacity goes back.
            (With ``create_retry``, a PoolTimeout chained to it once the
            timeout has passed.)
        """
        free_items = self._free
        # _get_gate is true when options (or threads) need the slow path.
        # Nobody waits while an item is free: put() hands items to waiters.
        if free_items and not self._get_gate:
            # A bad timeout fails now, not once contended. (A bad block is
            # refused where it matters, on the slow path: checking it here
            # too would cost every get a few percent.)
            if timeout is not None:
                check_seconds("timeout", timeout)
            self._gets += 1
            # Both orders take from the left; put() decides the order.
            return free_items.popleft()
        self._gets += 1
        return self._get_slow(block, timeout)

    def put(self, item: T) -> None:
        """Give back a checked-out item; never blocks, never switches.

        The item goes straight to the first waiting greenthread if there is
        one, otherwise back to ``free_items``. After a shrinking
        :meth:`resize`, or once closed, it is disposed instead. With
        ``reset`` set, reset(item) runs first, in this greenthread.

        An item put back while nothing is checked out (a placeholder a
        subclass returns after a failed create(), or an item put twice) is
        dropped with a warning: disposed, unless it is already free. The
        size stays exact; eventlet's pool would grow by one instead.

        Raises:
          PoolError: with lifecycle options (which track every item), this
            item is not checked out (the call changes nothing).
        """
        # _push_cap is how many free items there can be while at least one
        # item is checked out, when nothing else needs attention; every
        # change that could lower it sets it to -1 and the slow path below
        # works it out again.
        if len(self._free) < self._push_cap:
            self._push(item)
            return
        waiters = self._waiters
        if (
            waiters
            and not self._get_gate  # no lock (threads), no lifecycle options
            and not self._revoked
            and self._size <= self._limit
            and len(self._free) + self._creating < self._size
        ):
            # Contended, the commonest case after the push: straight to the
            # first waiter (_put_slow's plain path, written out).
            waiters.grant(item)
            return
        self._put_slow(item)

    # ------------------------------------------------------------------
    def item(self, timeout: Optional[float] = None) -> _ItemBlock[T]:
        """Check an item out for a ``with`` block; it always comes back.

        The item is put back when the block ends, also on exceptions, kills
        and timeouts. To drop a broken item instead, call ``discard()`` on
        the pool or on the context object; the block then does not put it
        back::

            with pool.item() as conn:
                if not conn.alive():
                    pool.discard(conn)

        Raises:
          Exception: as :meth:`get`.
        """
        context: _ItemContext[T] = _new_context(_ItemContext)
        context._pool = self
        context._timeout = timeout
        context._held = False
        return context

    async def aget(self, block: bool = True, timeout: Optional[float] = None) -> T:
        """get() for asyncio pools: ``await pool.aget()`` waits as a task.

        Cancelling the task while it waits takes it out of line; if it had
        just been granted an item, the item passes to the next waiter. A
        subclass's get() runs for it, with no arguments unless ``block`` or
        ``timeout`` is given (as :meth:`item` calls it).

        Raises:
          PoolError: the pool's backend is not asyncio and no item is free.
          Exception: as :meth:`get`.
        """
        free_items = self._free
        if free_items and (self._aget_native or (self._plain_get and not self._get_gate)):
            # A free item, on any backend: nobody waits while one is free.
            if timeout is not None or block is not True:
                check_get_args(block, timeout)
            self._gets += 1
            return free_items.popleft()
        if not self._aget_native:
            self._check_async("aget()")
            # Lifecycle options or an overridden get(): the synchronous
            # code, run in a bridge greenlet that awaits where it parks.
            if block and timeout is None and not self._plain_get:
                # A get() overridden with eventlet's signature, as item() calls it.
                return await run_bridged(self.get)  # type: ignore[no-any-return]
            return await run_bridged(self.get, block, timeout)  # type: ignore[no-any-return]
        waiters = self._waiters
        if not (waiters and block is True and timeout is None and self._timeout is None and self._limit >= 0):
            return await self._aget_waiting(block, timeout)  # type: ignore[no-any-return]
        # Contended with no time limit, the commonest case of a waiting get:
        # straight into line behind the others, on a future of the loop
        # (_aget_waiting's first turn, written out: its checks and calls
        # cost about 5% of the contended cycles/s, in bench_asyncio). With
        # others in line, _push_cap is -1 already: put() sets it only when
        # nobody waits.
        self._gets += 1
        counts = self._counts
        counts.waits += 1
        clock = self._clock
        started = clock()
        future = _waiters.get_running_loop().create_future()
        waiters.append(future)
        try:
            granted = await future
        except BaseException:
            waiters.leave(future, None, self._abandon)
            raise
        if granted is not EXPIRED and type(granted) is not Slot and not self._closed:
            counts.wait_times.append(clock() - started)  # _after_wait's commonest case
            return granted  # type: ignore[no-any-return]
        got = await self._aafter_wait(granted, None, started)
        if got is not _AGAIN:
            return got  # type: ignore[no-any-return]
        return await self._aget_waiting(True, None, front=True)  # type: ignore[no-any-return]

    async def _aafter_wait(self, granted: Any, timeout: Optional[float], started: float) -> Any:
        # _after_wait for a task: a granted creation slot is filled in a
        # bridge greenlet, where an async create() can be awaited.
        if type(granted) is Slot:
            return await run_bridged(self._after_wait, granted, timeout, started)
        return self._after_wait(granted, timeout, started)

    async def _aget_waiting(self, block: bool, timeout: Optional[float], front: bool = False) -> Any:
        # aget() on an asyncio pool whose get() is Pool's own, with no
        # lifecycle options: _acquire, waiting natively (the task parks on a
        # future of its loop). ``front``: it had its turn already (a shrink
        # took its slot back) and waits first in line.
        if not front:
            self._gets += 1
        self._push_cap = -1
        if timeout is not None or block is not True:
            timeout = check_get_args(block, timeout)
        waiters = self._waiters
        while True:
            if not (waiters and block and self._limit >= 0):
                got = self._acquire_now(block, False)
                if got is _CREATE:
                    # In a bridge greenlet, where an async create() is awaited.
                    return await run_bridged(self._create_in_slot)
                if got is not _WAIT:
                    return got
            timeout = self._wait_for(timeout, front)
            started = self._clock()
            granted = await waiters.wait(timeout, self._abandon, front)
            got = await self._aafter_wait(granted, timeout, started)
            if got is not _AGAIN:
                return got
            timeout = self._time_left(timeout, started)
            front = True

    def _check_async(self, call: str) -> None:
        if not self._backend.is_async:
            raise PoolError(
                f"{call} is for pools with backend='asyncio'; {self!r} uses {self._backend.name!r}"
            )

    def _refuse_plain_call(self, call: str, instead: str) -> None:
        # On asyncio, a call that may await (a hook, a wait) runs only in
        # the bridge of its a-method, never from plain code.
        if self._backend.is_async and not in_bridge():
            raise PoolError(f"{call} on an asyncio pool: use await pool.{instead}()")

    async def aput(self, item: T) -> None:
        """put() for async code. It never waits for other holders; with
        lifecycle options it runs in a bridge greenlet, where an async
        ``reset`` (or checkin listener) is awaited."""
        if self._managed:
            await run_bridged(self.put, item)
        else:
            self.put(item)

    def aitem(self, timeout: Optional[float] = None) -> _AsyncItemContext[T]:
        """``async with pool.aitem() as x:``: :meth:`item` for asyncio pools.

        Raises:
          Exception: as :meth:`aget`.
        """
        context: _AsyncItemContext[T] = _new_context(_AsyncItemContext)
        context._pool = self
        context._timeout = timeout
        context._held = False
        return context

    @guarded
    def discard(self, item: T) -> None:
        """Drop a checked-out item that is broken; its slot is freed.

        The item is disposed, and the first waiter (if any) is woken to
        create a replacement. An item whose slot ``reclaim_after`` already
        took back is just disposed.

        Raises:
          PoolError: nothing is checked out (the call changes nothing).
        """
        self._discard(item, "discarded")

    def _discard(self, item: T, reason: str) -> None:
        # discard() with the reason the dispose event and stats give.
        context = self._in_context.get(id(item))
        if context is not None and context._item is item:
            context._release()  # the with block must not put it back too
        rec = self._record_of(item)
        if rec is not None and rec.reclaimed:
            # Its slot was already taken back; only the item is left to drop.
            self._dispose_quietly(item, reason)
            return
        self._check_out_count(item)
        if self._managed and (rec is None or rec.out_since is None):
            # Tracked items say whether they are out; see _put_managed.
            if rec is not None or self._untracked_out <= 0:
                raise PoolError(f"{item!r} is not checked out of {self!r}")
            self._untracked_out -= 1
        self._drop(item, reason)

    @guarded
    def resize(self, new_size: int) -> None:
        """Change ``max_size`` at run time.

        Growing wakes as many waiters as the new capacity allows, at once.
        Shrinking a pool with a ``dispose`` (``dispose=`` or an override)
        disposes free items beyond the new size now. Without one, free
        items stay and may still be handed out, as in eventlet: every item
        beyond the new size leaves when it next comes back through
        :meth:`put` (where a subclass written for eventlet closes it).
        Checked-out items beyond the new size are disposed as they come
        back. ``min_size`` is left alone; refilling never goes above the
        new size.

        Raises:
          TypeError, ValueError: ``new_size`` is not an int >= 0.
        """
        check_size("new_size", new_size)
        self._max_size = new_size
        self._push_cap = -1
        if not self._closed:
            self._limit = new_size + self._opts.max_overflow
            self._revoke_slots()
        if self._dispose_now:
            while self._size > new_size and self._free:
                item = self._free.popleft()
                self._item_gone()
                self._dispose_quietly(item, "shrink")
        self._grant_free_capacity()

    @property
    def max_size(self) -> int:
        """Most items kept alive at once; assigning to it calls :meth:`resize`."""
        return self._max_size

    @max_size.setter
    def max_size(self, new_size: int) -> None:
        self.resize(new_size)

    @guarded
    def free(self) -> int:
        """How many get() calls would succeed now without waiting (overflow
        included; none while suspended)."""
        if self._suspended:
            return 0
        free = len(self._free) + self._max_size + self._opts.max_overflow - self._size
        return free if free > 0 else 0

    @guarded
    def suspend(self) -> None:
        """Hold every new get() back (within its timeout) until :meth:`resume`.

        Checked-out items keep working and may be put back (they wait in
        ``free_items``); nothing is handed out meanwhile (no waiter is
        given an item or a slot to create one), and get(block=False)
        raises PoolTimeout. For maintenance windows (a
        database failover, a migration): in-flight work finishes, new work
        queues up in order.
        """
        if not self._suspended:
            self._suspended = True
            self._set_mode()

    @guarded
    def resume(self) -> None:
        """End :meth:`suspend`: the callers waiting are served in the order
        they came, from the free items, then with new ones."""
        if not self._suspended:
            return
        self._suspended = False
        self._set_mode()
        self._serve_free()
        self._grant_free_capacity()

    @guarded
    def check_all(self) -> int:
        """Run ``check`` on every free item now, and replace the ones that
        fail (psycopg_pool's check(), for a health endpoint): each is taken
        out of ``free_items`` while it is checked, put back if good, disposed
        (reason ``check_failed``) if not; then the pool is filled up to
        ``min_size`` again (on threads the maintenance thread may still be
        making a replacement as this returns). Returns how many were
        disposed.

        Raises:
          ValueError: the pool has no ``check``.
          PoolError: called from plain code on an asyncio pool (use
            ``await pool.acheck_all()``).
        """
        if self._opts.check is None:
            raise ValueError("check_all() needs a pool made with check=")
        self._refuse_plain_call("check_all()", "acheck_all")
        failed = self._counts.checks_failed
        self._check_free(every=True)
        self._refill()
        return self._counts.checks_failed - failed

    async def acheck_all(self) -> int:
        """:meth:`check_all` for an asyncio pool (an async ``check`` is awaited)."""
        self._check_async("acheck_all")
        return await run_bridged(self.check_all)  # type: ignore[no-any-return]

    @guarded
    def drain(self) -> int:
        """Replace every item (HikariCP's softEvictConnections, psycopg_pool's
        drain()): the free ones are disposed now (reason ``drained``) and
        the pool refilled to ``min_size``; the checked-out ones keep working
        and are disposed when they come back, whoever puts them. Items made
        from now on are kept. With a ``create`` that reads its parameters
        when called (``connect=lambda: driver.connect(**current())``), this
        is how a service follows a password rotation or a failover without
        a restart. Returns how many free items were disposed now.

        Raises:
          PoolClosed: the pool is closed.
          PoolError: called from plain code on an asyncio pool (use
            ``await pool.adrain()``).
        """
        if self._closed:
            raise PoolClosed(f"drain() of {self!r}")
        self._refuse_plain_call("drain()", "adrain")
        out = self._size - len(self._free) - self._creating
        if out > 0:
            self._fresh = {}
            self._drain_old = out
            self._set_mode()
        disposed = 0
        while self._free:
            item = self._free.popleft()
            self._item_gone()
            self._dispose_quietly(item, "drained")
            disposed += 1
        self._refill()
        self._grant_free_capacity()
        return disposed

    async def adrain(self) -> int:
        """:meth:`drain` for an asyncio pool (async create and dispose awaited)."""
        self._check_async("adrain")
        return await run_bridged(self.drain)  # type: ignore[no-any-return]

    @property
    def draining(self) -> bool:
        """True while items made before the last :meth:`drain` are still out."""
        return self._fresh is not None

    @guarded
    def wait(self, timeout: Optional[float] = None) -> None:
        """Wait until ``min_size`` items exist: the pool is ready (for
        start-up and readiness checks, where ``create_retry`` fills it in
        the background while the server is down).

        Raises:
          PoolTimeout: not ready within ``timeout`` seconds (its
            ``__cause__`` is the last creation error, if any).
          PoolClosed: the pool is or was closed.
          PoolError: called from plain code on an asyncio pool that is not
            ready (use ``await pool.await_ready()``).
        """
        wait = check_seconds("timeout", timeout)
        if self._closed:
            raise PoolClosed(f"wait() on {self!r}")
        if self._is_ready():
            return
        self._refuse_plain_call("wait()", "await_ready")
        line = self._backend.waiter_queue()
        self._ready_lines.append(line)
        try:
            got = line.park(wait, _ignore)
        finally:
            if any(waiting is line for waiting in self._ready_lines):
                remove_identical(self._ready_lines, line)
        if self._closed:
            raise PoolClosed(f"{self!r} was closed during wait()")
        if got is EXPIRED and not self._is_ready():
            raise PoolTimeout(
                f"{self!r} had no {self._min_size} items (min_size) after {wait} s"
            ) from self._create_error

    async def await_ready(self, timeout: Optional[float] = None) -> None:
        """:meth:`wait` for an asyncio pool."""
        self._check_async("await_ready")
        await run_bridged(self.wait, timeout)

    @property
    def suspended(self) -> bool:
        """True between :meth:`suspend` and :meth:`resume`."""
        return self._suspended

    @guarded
    def waiting(self) -> int:
        """How many greenthreads are waiting for an item."""
        return len(self._waiters)

    @property
    def free_items(self) -> deque[T]:
        """The free items, next to be handed out first (eventlet's attribute).

        It holds exactly the items a get() could take now: an item put()
        handed to a waiter is that waiter's, not free. Reading it from a
        greenthread first lets such waiters run (a switch or a few, as
        eventlet's put() would have switched to them), so that what a
        subclass reads is settled: an item whose waiter died meanwhile is
        back here. A subclass may change the deque, or assign a new one.
        """
        self._waiters.settle()
        return self._free

    @free_items.setter
    @guarded
    def free_items(self, items: deque[T]) -> None:
        if not isinstance(items, deque):
            raise TypeError(f"free_items must be a collections.deque, got {type(items).__name__}")
        self._free = items
        self._push_cap = -1
        self.order_as_stack = self._order_as_stack  # rebind _push to the new deque
        self._serve_free()

    @property
    def current_size(self) -> int:
        """Items alive or being created (eventlet's attribute), settable.

        Checked-out items are ``current_size - len(free_items)`` (minus any
        being created). A subclass may change it, as subclasses of eventlet's
        pool do (``self.current_size -= 1`` after closing an item itself);
        lowering it lets the first waiters create in the capacity it frees.

        Raises:
          TypeError, ValueError: set to something other than an int >= 0.
        """
        return self._size

    @current_size.setter
    @guarded
    def current_size(self, size: int) -> None:
        check_size("current_size", size)
        shrank = size < self._size
        self._size = size
        self._push_cap = -1
        if shrank:
            self._grant_free_capacity()

    @property
    def channel(self) -> Channel[T]:
        """eventlet's ``pool.channel``: a view of the pool's line of waiters.

        Subclasses written for eventlet wait with ``self.channel.get()``
        when their own get() finds nothing free; here that waits in the
        same FIFO line as :meth:`get`. See :class:`Channel`.
        """
        return Channel(self)

    @property
    def order_as_stack(self) -> bool:
        """Hand out the most recently returned item first; settable."""
        return self._order_as_stack

    @order_as_stack.setter
    @guarded
    def order_as_stack(self, as_stack: bool) -> None:
        if not isinstance(as_stack, int):  # bools are ints; 'no' is not
            raise TypeError(f"order_as_stack must be True or False, got {as_stack!r}")
        self._order_as_stack = bool(as_stack)
        # get() always takes from the left; the order is where put() adds.
        self._push = self._free.appendleft if as_stack else self._free.append

    @property
    def min_size(self) -> int:
        """Items made at construction and, with lifecycle options, kept; settable.

        Raises:
          TypeError, ValueError: set to something other than an int >= 0.
        """
        return self._min_size

    @min_size.setter
    def min_size(self, size: int) -> None:
        self._min_size = check_size("min_size", size)

    @property
    def timeout(self) -> Optional[float]:
        """Default seconds :meth:`get` waits (``None``: for ever); settable.

        Raises:
          TypeError, ValueError: not a number of seconds >= 0, or None.
        """
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: Optional[float]) -> None:
        self._timeout = check_seconds("timeout", seconds)

    @property
    def backend(self) -> str:
        """The runtime the pool serves: ``'eventlet'``, ``'threads'`` or ``'asyncio'``."""
        return self._backend.name

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    @guarded
    def close(self) -> None:
        """Stop handing out items; idempotent.

        Every waiter is woken with PoolClosed, and so is any later get().
        Free items are disposed now, checked-out ones when they come back.
        The maintenance greenthread ends.
        """
        if self._closed:
            return
        self._closed = True
        self._limit = -1
        self._push_cap = -1
        self._retry_due = None
        if self._upkeep is not None:
            self._upkeep.stop()
        self._waiters.fail_all(lambda: PoolClosed(f"{self!r} was closed while waiting"))
        self._tell_ready()
        self._fresh = None
        while self._free:
            item = self._free.popleft()
            self._item_gone()
            self._dispose_quietly(item, "closed")

    def create(self) -> T:
        """Make a new item; override it, or pass ``create=``.

        Raises:
          NotImplementedError: neither was done.
        """
        raise NotImplementedError(
            f"{type(self).__name__}.create() is not implemented: "
            "subclass Pool and override create(), or pass create=..."
        )

    def dispose(self, item: T) -> None:
        """Release an item the pool drops; override it, or pass ``dispose=``.

        The default does nothing (eventlet's pool just forgets the item).
        """

    def __enter__(self) -> Pool[T]:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    async def aclose(self) -> None:
        """close() for asyncio pools: an async ``dispose`` of the free items
        is awaited, and so are the disposals already under way (of items
        that came back earlier). Checked-out items are disposed when they
        come back, as with close().
        """
        await run_bridged(self.close)
        pending = list(self._pending_hooks)
        if pending:
            import asyncio

            await asyncio.gather(*pending, return_exceptions=True)  # (failures were logged)

    async def __aenter__(self) -> Pool[T]:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    @property
    def name(self) -> Optional[str]:
        """The pool's name (``name=``), or None."""
        return self._name

    @name.setter
    def name(self, name: Optional[str]) -> None:
        self._name = name

    @property
    def max_waiting(self) -> Optional[int]:
        """Most callers waiting at once (``max_waiting=``), or None."""
        return self._max_waiting

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        named = "" if self._name is None else f" {self._name!r}"
        return (
            f"<{type(self).__name__}{named}{state} size={self._size}/{self._max_size} "
            f"free={self.free()} waiting={self.waiting()}>"
        )

    # ------------------------------------------------------------------
    # slow paths: getting
    def _acquire(
        self, block: bool, timeout: Optional[float], front: bool = False, checked: bool = False
    ) -> T:
        # Take a free item, create one, or wait in line: the core of get(),
        # and all of its slow path while no lifecycle option is set. With
        # ``front`` the caller waits first in line: it had its turn already.
        # ``checked``: the caller validated block and timeout already.
        self._push_cap = -1
        if not checked and (timeout is not None or block is not True):  # bad ones fail on every path
            timeout = check_get_args(block, timeout)
        got = self._acquire_now(block)
        if got is not _WAIT:
            return got  # type: ignore[no-any-return]
        timeout = self._wait_for(timeout, front)
        started = self._clock()
        lock = self._lock
        if lock is not None and not self._managed:
            # Threads: a thread handed an item returns without the lock (see
            # _get_slow), unless the pool was closed meanwhile.
            granted, relocked = self._waiters.park_handoff(timeout, self._abandon, front, _is_item)
            if not relocked:
                if not self._closed:  # it is ours; a later close() takes it when put back
                    self._counts.wait_times.append(self._clock() - started)
                    return granted  # type: ignore[no-any-return]
                lock.acquire()  # the closed path below changes the counts
        else:
            granted = self._waiters.park(timeout, self._abandon, front)
        got = self._after_wait(granted, timeout, started)
        if got is _AGAIN:
            return self._acquire(block, self._time_left(timeout, started), True, True)
        return got  # type: ignore[no-any-return]

    def _acquire_now(self, block: bool, create: bool = True) -> Any:
        # What a get() can have without waiting: a free item or a new one
        # (only when nobody waits: no jumping the line), else _WAIT. With
        # ``create`` False, a new one is left to the caller: the slot is
        # reserved and _CREATE returned.
        if self._limit < 0:  # closed (tested through _limit: see below)
            raise PoolClosed(f"get() from {self!r}")
        if self._suspended:
            if not block:
                self._counts.timeouts += 1
                raise PoolTimeout(f"get(block=False) from {self!r}, which is suspended")
            return _WAIT
        if not self._waiters and not self._revoked:
            if self._free:
                return self._free.popleft()
            if self._size < self._limit and self._retry_due is None:
                self._reserve_slot()
                return self._create_in_slot() if create else _CREATE
        if not block:
            self._counts.timeouts += 1
            raise PoolTimeout(f"get(block=False) found nothing free in {self!r}")
        return _WAIT

    def _wait_for(self, timeout: Optional[float], front: bool = False) -> Optional[float]:
        # How long a get() that must wait may wait; counts the wait. One
        # that would be the (max_waiting + 1)-th in line is turned away (not
        # one that had its turn and waits again, first).
        if timeout is None:
            timeout = self._timeout
        if timeout == 0:
            self._counts.timeouts += 1
            raise PoolTimeout(f"get(timeout=0) found nothing free in {self!r}")
        if self._max_waiting is not None and not front and len(self._waiters) >= self._max_waiting:
            self._counts.rejected += 1
            raise TooManyWaiters(f"{len(self._waiters)} callers wait already for an item of {self!r}")
        self._counts.waits += 1
        return timeout

    def _time_left(self, timeout: Optional[float], started: float) -> Optional[float]:
        return None if timeout is None else max(0.0, timeout - (self._clock() - started))

    def _after_wait(self, granted: Any, timeout: Optional[float], started: float) -> Any:
        # What a parked get() was given, turned into its result: the item,
        # a new item in a granted slot, or _AGAIN (wait again, first in
        # line) when a shrinking resize() took the slot back meanwhile.
        # Other greenthreads ran while it was parked: _closed may have changed.
        counts = self._counts
        if granted is EXPIRED:
            counts.timeouts += 1
            raise PoolTimeout(f"waited {timeout} s for an item of {self!r}")
        waited = self._clock() - started
        counts.wait_times.append(waited)
        if type(granted) is Slot:
            if granted.item is not NO_ITEM:
                granted = granted.item  # handed an item after a revoke: as below
            elif not granted.revoked:
                remove_identical(self._slots, granted)
                if self._closed:
                    self._release_slot()
                    raise PoolClosed(f"{self!r} was closed while waiting")
                return self._create_in_slot()
            else:
                # A shrinking resize() took the slot back before this ran
                # (and counted it out): wait again, first in line.
                remove_identical(self._revoked, granted)
                self._push_cap = -1
                if self._closed:
                    raise PoolClosed(f"{self!r} was closed while waiting")
                if timeout is not None and timeout - waited <= 0:
                    counts.timeouts += 1
                    raise PoolTimeout(f"waited {timeout} s for an item of {self!r}")
                return _AGAIN
        if self._closed:
            self._item_gone()
            self._dispose_quietly(granted, "closed")
            raise PoolClosed(f"{self!r} was closed while waiting")
        return granted

    def _create_in_slot(self) -> T:
        # The caller already counted this creation in current_size and
        # _creating, so no other greenthread can take the same capacity.
        try:
            new = self._new_item()
        except AwaitNeeded:
            self._release_slot()
            raise
        except Exception as exc:
            if self._opts.create_retry is not None and not self._closed:
                # Maintenance retries after a backoff; until then nobody
                # else is granted this capacity only to fail the same way.
                self._cancel_slot()
                self._push_cap = -1
                self._schedule_retry(exc)
            else:
                self._release_slot()
            raise
        except BaseException:
            self._release_slot()
            raise
        self._slot_filled()
        if self._closed:
            self._item_gone()
            self._dispose_quietly(new, "closed")
            raise PoolClosed(f"{self!r} was closed while creating an item")
        rec = self._records.get(id(new))
        if rec is not None:
            rec.fresh = True
        if "create" in self._listeners:
            try:
                self._emit("create", new, took=self._took)
            except BaseException:
                self._put_back(new, rec)
                raise
        return new

    def _new_item(self) -> T:
        # create() plus what every creation is counted and recorded as.
        try:
            # The slot is reserved: others may go on while this creates.
            if "create" in self._listeners:
                # Timed for the create event (which its caller emits).
                began = self._clock()
                new: T = self._backend.call_hook(self.create)
                self._took = self._clock() - began
            else:
                new = self._backend.call_hook(self.create)
            if new is None:  # a create() that forgot its return
                raise TypeError(f"create() of {self!r} returned None, not an item")
        except AwaitNeeded:
            raise  # not a failed create: it could not be awaited here
        except Exception as exc:
            self._counts.create_errors += 1
            self._emit("create_failed", None, error=exc)
            raise
        self._counts.created += 1
        if self._fresh is not None:
            self._fresh[id(new)] = new
        if self._managed:
            self._records[id(new)] = Record(new, self._clock())
            if self._create_error is not None:  # create() works again
                self._create_error = None
                self._retry_attempt = 0
                self._failing_since = None
        return new

    # ------------------------------------------------------------------
    # slow paths: returning
    def _put_plain(self, item: T) -> None:
        # put()'s slow path while no lifecycle option is set.
        if self._nothing_out():
            if self._strict_put:
                self._check_out_count(item)  # raises
            self._drop_stray(item)
            return
        self._return_item(item)
        if (
            not self._waiters
            and not self._revoked
            and not self._closed
            and self._fresh is None  # (drain(): every put looks at its item)
            and self._size <= self._max_size
            and self._lock is None  # threads: every put takes the lock
        ):
            self._push_cap = self._size - self._creating

    def _return_item(self, item: T) -> None:
        # Where a returning item goes: disposed (closed, shrunk, overflow,
        # made before a drain()), to the first waiter, or into free_items.
        if self._made_before_drain(item):
            self._drop(item, "drained")
            return
        size = self._size
        if size > self._limit:
            self._item_gone()
            self._dispose_quietly(item, "closed" if self._closed else "shrink")
            return
        if self._suspended:
            pass  # (held back: it waits in free_items for resume())
        elif self._waiters:
            if self._revoked:  # they were ahead of everyone in line
                self._hand_to_revoked(item)
                return
            # Straight to the waiter: it is checked out from now on.
            self._waiters.grant(item)
            return
        elif self._revoked:
            self._hand_to_revoked(item)
            return
        if size > self._max_size:
            self._item_gone()
            self._dispose_quietly(item, "overflow")
            return
        self._push(item)

    def _drop_stray(self, item: T) -> None:
        # Nothing is checked out, so this item takes no slot: keeping it
        # would grow the pool past its size (eventlet's pool does). Subclasses
        # of eventlet's pool put placeholders back after a failed create().
        if any(free is item for free in self._free):
            logger.warning("%r was put back into %r twice; the second put() is ignored", item, self)
            return
        logger.warning("%r was put back into %r with nothing checked out; disposing it", item, self)
        self._dispose_quietly(item, "stray")

    def _serve_free(self) -> None:
        # No item sits free while somebody waits (unless suspended): the
        # waiters whose slot a shrink took back first, then the line.
        if self._suspended:
            return
        free = self._free
        while free and self._revoked:
            self._hand_to_revoked(free.popleft())
        while free and self._waiters:
            self._waiters.grant(free.popleft())

    def _made_before_drain(self, item: T) -> bool:
        # While a drain() is under way: an item it did not see made.
        fresh = self._fresh
        return fresh is not None and fresh.get(id(item)) is not item

    def _nothing_out(self) -> bool:
        return len(self._free) + self._creating >= self._size

    def _check_out_count(self, item: T) -> None:
        if self._nothing_out():
            raise PoolError(f"{item!r} returned but nothing is checked out of {self!r}")

    def _drop(self, item: T, reason: str, error: Optional[Exception] = None) -> None:
        # A checked-out item leaves for good; its slot goes to the next waiter.
        if self._made_before_drain(item):
            self._drain_old -= 1  # one more made before drain() is gone
            if self._drain_old <= 0:
                self._fresh = None
                self._set_mode()
        self._item_gone()
        self._dispose_quietly(item, reason, error)
        self._grant_free_capacity()

    # ------------------------------------------------------------------
    # bookkeeping shared by the paths above
    def _abandon(self, granted: Any) -> None:
        # A waiter was granted something but died before it could run.
        if type(granted) is Slot:
            if granted.item is not NO_ITEM:
                granted = granted.item  # an item after all: passed on below
            elif granted.revoked:
                remove_identical(self._revoked, granted)  # counted out already
                self._push_cap = -1
                return
            else:
                remove_identical(self._slots, granted)
                self._release_slot()  # to the next in line
                return
        if self._size > self._limit:
            self._item_gone()
            self._dispose_quietly(granted, "closed" if self._closed else "shrink")
        elif self._revoked and not self._suspended:
            self._hand_to_revoked(granted)
        elif self._waiters and not self._suspended:
            self._waiters.grant(granted)
        elif self._size > self._max_size:
            self._item_gone()
            self._dispose_quietly(granted, "overflow")
        else:
            self._push(granted)

    # Counting. Every change of current_size and _creating goes through
    # these four, where the invariant of the counts is checked:
    #   0 <= len(free_items) + _creating <= current_size
    # (checked out = current_size - len(free_items) - _creating).
    def _reserve_slot(self) -> None:
        # Capacity is counted for a create() about to happen (or granted).
        self._size += 1
        self._creating += 1

    def _slot_filled(self) -> None:
        # The create() of a reserved slot returned an item: it is out now.
        self._creating -= 1
        assert self._creating >= 0, self._counts_broken()
        if self._ready_lines:
            self._tell_ready()

    def _is_ready(self) -> bool:
        # min_size items exist (made, not in the making).
        return self._size - self._creating >= min(self._min_size, self._max_size)

    def _tell_ready(self) -> None:
        # Wake wait()'s callers once the pool is ready (or closed).
        if self._closed or self._is_ready():
            lines, self._ready_lines = self._ready_lines, []
            for line in lines:
                line.grant(True)

    def _cancel_slot(self) -> None:
        # A reserved slot will not be filled: its capacity is gone.
        self._creating -= 1
        self._size -= 1
        assert self._creating >= 0, self._counts_broken()
        assert self._size >= len(self._free) + self._creating, self._counts_broken()

    def _item_to_slot(self) -> None:
        # A checked-out item was dropped, its capacity kept for a create().
        self._creating += 1

    def _item_gone(self) -> None:
        # An item left the pool for good (disposed, or counted out).
        self._size -= 1
        assert self._size >= len(self._free) + self._creating, self._counts_broken()

    def _counts_broken(self) -> str:
        return (
            f"pool counts broken: current_size={self._size} free={len(self._free)} creating={self._creating}"
        )

    def _release_slot(self) -> None:
        # A slot counted for a create() that will not happen goes back, and
        # the next waiter may take it (a no-op once closed: _limit is -1).
        self._cancel_slot()
        self._push_cap = -1
        self._grant_free_capacity()

    def _grant_free_capacity(self) -> None:
        # Whenever capacity frees up, the first waiters get to create
        # (unless a create_retry backoff is pending: then maintenance does).
        # Slots a shrink took back from waiters that have not run yet come
        # back first: those waiters were ahead of everyone still in line.
        if self._suspended:
            return  # (resume() serves the line)
        revoked = self._revoked
        while revoked and self._size < self._limit and self._retry_due is None:
            slot = revoked.popleft()
            slot.revoked = False
            self._slots.append(slot)
            self._reserve_slot()
        waiters = self._waiters
        while waiters and self._size < self._limit and self._retry_due is None:
            self._reserve_slot()
            waiters.grant(self._new_slot())

    def _new_slot(self) -> Slot:
        # A creation slot for a waiter, noted until the waiter runs.
        slot = Slot()
        self._slots.append(slot)
        return slot

    def _revoke_slots(self) -> None:
        # After a shrink: take back granted slots whose waiters have not run
        # yet, newest first, while the pool is over its new limit.
        # They wait in _revoked (oldest first) until they run or get it back.
        slots = self._slots
        while slots and self._size > self._limit:
            slot = slots.pop()
            slot.revoked = True
            self._revoked.appendleft(slot)
            self._cancel_slot()
            self._push_cap = -1  # returned items must go to them, not free_items

    def _hand_to_revoked(self, item: T) -> None:
        # The oldest waiter whose slot a shrink took back, and which has not
        # run yet, gets this item instead: it is checked out from now on.
        slot = self._revoked.popleft()
        slot.revoked = False
        slot.item = item

    def _dispose_quietly(self, item: T, reason: str, error: Optional[Exception] = None) -> None:
        # Every item the pool drops passes here, whatever the reason.
        self._push_cap = -1
        self._counts.disposed[reason] += 1
        fresh = self._fresh
        if fresh is not None and fresh.get(id(item)) is item:
            del fresh[id(item)]
        records = self._records
        if records:
            rec = records.pop(id(item), None)
            if rec is not None and rec.item is not item:  # pragma: no cover - id reuse
                records[id(item)] = rec
        try:
            self._backend.call_hook_later(self._pending_hooks, self.dispose, item)
        except Exception:
            logger.exception("dispose(%r) raised; the item is dropped anyway", item)
        if "dispose" in self._listeners:
            self._emit("dispose", item, reason=reason, error=error)
        if self._opts.any_set and self._size < min(self.min_size, self._max_size):
            self._need_upkeep_by(self._clock())

    def _get_slow(self, block: bool, timeout: Optional[float]) -> T:
        # get() when no item is free (or options or threads need more):
        # under the lock with threads, which a waiter gives up while it
        # sleeps; tracked with lifecycle options, the core otherwise.
        lock = self._lock
        if lock is None:
            if self._managed:
                return self._get_managed(block, timeout)
            return self._acquire(block, timeout)
        if self._managed:
            with lock:
                return self._get_managed(block, timeout)
        lock.acquire()
        try:
            return self._acquire(block, timeout)
        finally:
            if lock._is_owned():  # type: ignore[attr-defined]
                lock.release()  # (a thread handed an item returns without it)

    def _put_slow(self, item: T) -> None:
        # put() when the item cannot simply go back on the free list.
        lock = self._lock
        if lock is None:
            if self._managed:
                self._put_managed(item)
                return
            self._put_plain(item)
            return
        with lock:
            if self._managed:
                self._put_managed(item)
            else:
                self._put_plain(item)

    def _spawn(self, function: Callable[..., None], *args: Any) -> Any:
        # Start work nobody waits for: a greenthread, a daemon thread with
        # the threads backend, a task of the running loop with asyncio.
        return self._backend.spawn(function, *args)


def _ignore(_value: Any) -> None:
    pass


class Channel(Generic[T]):
    """eventlet's ``pool.channel``: a view of the pool's own line of waiters.

    eventlet's pool hands returned items to waiting greenthreads through
    ``channel``, a queue of size zero, and subclasses written for it wait
    there themselves: their get() takes from ``free_items``, creates below
    ``max_size``, and otherwise returns ``self.channel.get()``. Here the
    channel holds nothing of its own. Its get() waits in the pool's FIFO
    line, behind every get() already waiting, with the same guarantees: a
    waiter that times out or is killed leaves the line, and whatever it had
    been handed goes on to the next one.

    A new view is made on each access of :attr:`Pool.channel`; it keeps no
    state, so views compare by the pool they look at.
    """

    __slots__ = ("_pool",)

    def __init__(self, pool: Pool[T]) -> None:
        self._pool = pool

    def get(self, block: bool = True, timeout: Optional[float] = None) -> T:
        """Wait in the pool's line for an item and return it.

        It is :meth:`Pool.get` of the pool's own class (never a subclass's
        override, which may be the caller): a free item if no one waits,
        else a new one if there is room, else the next item put() back.

        Raises:
          Exception: as :meth:`Pool.get`.
        """
        return Pool.get(self._pool, block, timeout)

    def getting(self) -> int:
        """How many greenthreads wait in the line (:meth:`Pool.waiting`)."""
        return self._pool.waiting()

    def putting(self) -> int:
        """Always 0: put() never waits for a taker."""
        return 0

    @property
    def queue(self) -> deque[T]:
        """The items put() handed to waiters that have not run yet (a copy).

        As in eventlet, an item on its way to a waiter is in neither
        ``free_items`` nor anybody's hands yet; this is where to find it.
        """
        values = (value.item if type(value) is Slot else value for value in self._pool._waiters.in_transit())
        return deque(value for value in values if value is not NO_ITEM)

    def qsize(self) -> int:
        """How many items are on their way to waiters (``len(queue)``)."""
        return len(self.queue)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Channel) and other._pool is self._pool

    def __hash__(self) -> int:
        return hash(id(self._pool))

    def __repr__(self) -> str:
        return f"<Channel of {self._pool!r}>"


class _ItemContext(Generic[T]):
    """What :meth:`Pool.item` returns: checks out on enter, back on exit.

    item() is a hot path, so the context is made without an ``__init__``
    (see :meth:`Pool.item`), and while the pool's own get() and put() are in
    place their fast paths are written out here; otherwise get() is called
    as eventlet's item() calls it (no arguments unless there is a timeout),
    so that subclasses overriding ``get(self)`` work.
    """

    __slots__ = ("_held", "_item", "_pool", "_timeout")

    _pool: Pool[T]
    _timeout: Optional[float]
    _held: bool
    _item: T

    def __enter__(self) -> T:
        pool = self._pool
        free_items = pool._free
        if free_items and self._timeout is None and pool._item_fast:
            pool._gets += 1  # Pool.get's fast path
            item = self._item = free_items.popleft()
        else:
            timeout = self._timeout
            item = self._item = pool.get() if timeout is None else pool.get(timeout=timeout)
        # Registered so that pool.discard(item) inside the block is seen.
        pool._in_context[id(item)] = self
        self._held = True
        return item

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._held:
            self._held = False
            pool = self._pool
            item = self._item
            pool._in_context.pop(id(item), None)
            if pool._item_fast and len(pool._free) < pool._push_cap:
                pool._push(item)  # Pool.put's fast path
            else:
                pool.put(item)

    def discard(self) -> None:
        """Drop the checked-out item as broken instead of putting it back.

        Raises:
          PoolError: nothing is held by this context.
        """
        if not self._held:
            raise PoolError("discard() outside the with block: nothing is held")
        self._pool.discard(self._item)  # which calls _release()

    def _release(self) -> None:
        # The item leaves this context's hands: put back or discarded.
        self._held = False
        self._pool._in_context.pop(id(self._item), None)


class _AsyncItemContext(_ItemContext[T]):
    """What :meth:`Pool.aitem` returns: an item() context for ``async with``."""

    __slots__ = ()

    async def __aenter__(self) -> T:
        pool = self._pool
        item = self._item = await pool.aget(True, self._timeout)
        pool._in_context[id(item)] = self  # as __enter__ does
        self._held = True
        return item

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._held and self._pool._managed:
            # Given back as aput() does: an async reset() is awaited.
            await run_bridged(self.__exit__, exc_type, exc, tb)
        else:
            self.__exit__(exc_type, exc, tb)
