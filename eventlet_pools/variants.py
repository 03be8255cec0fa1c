"""Pool variants for special cases: no pooling, one shared item, one item per
greenthread, and an assertion that at most one item is ever out.

Each is a :class:`~eventlet_pools.Pool` (``get``/``put``/``item``/``discard``/
``close``, events and stats) that differs only in which item a ``get()``
returns and what ``put()`` does with it. Each works on every backend
(GreenthreadLocalPool's holders are then threads or tasks). They take the
core arguments only:
the lifecycle options of :class:`~eventlet_pools.Pool` (ages, checks, leak
detection) are about keeping items in a free list, which these pools do not
do, or do not do in the usual way.
"""

from __future__ import annotations

import time
import traceback
import weakref
from typing import Any, Callable, Optional, TypeVar

from eventlet_pools._base import guarded
from eventlet_pools._validate import check_seconds, check_size
from eventlet_pools._waiters import EXPIRED
from eventlet_pools.errors import PoolClosed, PoolError, PoolTimeout
from eventlet_pools.pool import Pool

__all__ = ["AssertionPool", "GreenthreadLocalPool", "NullPool", "StaticPool"]

T = TypeVar("T")

Clock = Callable[[], float]


def _only_size(cls: type, name: str, got: int, wanted: int) -> None:
    if got != wanted:
        raise ValueError(f"{cls.__name__} {name} is always {wanted}, got {got!r}")


class NullPool(Pool[T]):
    """No pooling: every get() creates a new item, every put() disposes it.

    ``max_size`` still bounds how many items are alive at once, so it is a
    concurrency limit with fresh items: callers beyond it wait in FIFO
    order, and a put() (or discard) lets the first of them create. Use it
    where items must not be reused, or to rule pooling out while debugging.

    Args:
      max_size: most items alive at once; :meth:`resize` changes it.
      create: zero-argument callable making an item (or override create()).
      timeout: default seconds get() waits.
      dispose: called with each item put back or dropped (or override).
      clock: monotonic clock for the wait statistics.
      backend: as for :class:`~eventlet_pools.Pool` (threads work too).

    Raises:
      TypeError, ValueError: as for :class:`~eventlet_pools.Pool`.
    """

    _strict_put = True  # a put() with nothing checked out raises PoolError

    def __init__(
        self,
        max_size: int = 4,
        create: Optional[Callable[[], T]] = None,
        *,
        timeout: Optional[float] = None,
        dispose: Optional[Callable[[T], Any]] = None,
        clock: Clock = time.monotonic,
        backend: str = "auto",
    ) -> None:
        super().__init__(
            0, max_size, False, create, timeout=timeout, dispose=dispose, clock=clock, backend=backend
        )

    def put(self, item: T) -> None:
        """Dispose of a checked-out item; its slot goes to the first waiter.

        Raises:
          PoolError: nothing is checked out (the call changes nothing).
        """
        # The slow path validates and sends checkin events; _return_item
        # below makes "keep it" mean "dispose it".
        self._put_slow(item)

    def _return_item(self, item: T) -> None:
        self._item_gone()
        self._dispose_quietly(item, "closed" if self._closed else "unpooled")
        self._grant_free_capacity()


class StaticPool(Pool[T]):
    """One item, shared by every caller at once.

    The first get() creates the item; every later get() returns that same
    item at once, however many callers hold it, so it must be safe to share
    (or used by one greenthread at a time by design). put() only counts the
    checkout back in. Callers that arrive while the item is being created
    wait for it; if create() fails, the next of them tries.

    discard() drops the shared item (it is broken): it is disposed at once,
    and the next get() creates a new one; holders of the old one may still
    put it back. close() disposes the item once the last holder returned it.
    Inside ``with pool.item()`` blocks, which share one item, discard through
    the block's own context (``ctx.discard()``): ``pool.discard(item)`` cannot
    tell which of the blocks holding it is yours.

    Args:
      create: zero-argument callable making the item (or override create()).
      timeout: default seconds get() waits for the item to be created.
      dispose: called with the item when it is dropped (or override).
      clock: monotonic clock for the wait statistics.
      backend: as for :class:`~eventlet_pools.Pool` (every backend; with
        threads each method takes the pool's lock).
    """

    _strict_put = True  # a put() with nothing checked out raises PoolError

    def __init__(
        self,
        create: Optional[Callable[[], T]] = None,
        *,
        timeout: Optional[float] = None,
        dispose: Optional[Callable[[T], Any]] = None,
        clock: Clock = time.monotonic,
        backend: str = "auto",
    ) -> None:
        if create is None and type(self).create is Pool.create:
            raise TypeError(f"{type(self).__name__} needs create=, or a subclass overriding create()")
        super().__init__(0, 1, False, create, timeout=timeout, dispose=dispose, clock=clock, backend=backend)
        # The shared item once made (a list: the item itself may be None).
        self._shared: list[T] = []
        # Checkouts of the shared item not yet given back.
        self._holds = 0
        # Items no longer handed out (discarded, or the pool closed) that
        # holders still have: id -> [item, checkouts still out].
        self._retired: dict[int, list[Any]] = {}

    @guarded
    def get(self, block: bool = True, timeout: Optional[float] = None) -> T:
        """Return the shared item, creating it first if need be.

        Raises:
          PoolTimeout: the item is being created and ``block`` is False or
            the timeout passed first.
          PoolClosed: the pool is closed.
          Exception: whatever ``create()`` raises.
        """
        self._gets += 1
        began = self._clock()
        wait = self._timeout if timeout is None else check_seconds("timeout", timeout)
        counts = self._counts
        front = False
        while True:
            if self._closed:
                raise PoolClosed(f"get() from {self!r}")
            if self._shared:
                item = self._shared[0]
                self._holds += 1
                self._emit("checkout", item, waited=self._clock() - began)
                return item
            if not self._creating:
                return self._make(began)
            if not block or wait == 0:
                counts.timeouts += 1
                raise PoolTimeout(f"the item of {self!r} is still being created")
            counts.waits += 1
            started = self._clock()
            granted = self._waiters.park(wait, self._pass_turn, front)
            if granted is EXPIRED:
                counts.timeouts += 1
                raise PoolTimeout(f"waited {wait} s for the item of {self!r}")
            counts.wait_times.append(self._clock() - started)
            front = True  # woken: the item exists, or it is our turn to create

    @guarded
    def put(self, item: T) -> None:
        """Count a checkout of the shared item back in; never disposes it.

        Raises:
          PoolError: ``item`` is not checked out of this pool.
        """
        if self._shared and self._shared[0] is item and self._holds:
            self._holds -= 1
            self._emit("checkin", item)
            if self._closed and not self._holds:
                self._retire_shared("closed")
            return
        retired = self._retired.get(id(item))
        if retired is None or retired[0] is not item:
            raise PoolError(f"{item!r} is not checked out of {self!r}")
        retired[1] -= 1
        if not retired[1]:
            del self._retired[id(item)]

    @guarded
    def discard(self, item: T) -> None:
        """Drop the shared item as broken; the next get() creates another.

        Raises:
          PoolError: ``item`` is not the shared item, or is not checked out.
        """
        if not (self._shared and self._shared[0] is item and self._holds):
            raise PoolError(f"{item!r} is not the checked-out item of {self!r}")
        context = self._in_context.get(id(item))
        if context is not None and context._item is item:
            context._release()
        self._holds -= 1
        self._retire_shared("discarded")

    def resize(self, new_size: int) -> None:
        """Refuse: a StaticPool has exactly one item.

        Raises:
          ValueError: ``new_size`` is not 1.
        """
        _only_size(type(self), "max_size", new_size, 1)

    def free(self) -> int:
        """1 while a get() would return at once, else 0."""
        return 0 if self._closed or self._creating else 1

    @guarded
    def close(self) -> None:
        """Stop handing the item out; it is disposed once nobody holds it."""
        if self._closed:
            return
        super().close()
        if self._shared and not self._holds:
            self._retire_shared("closed")

    def _make(self, began: float) -> T:
        self._creating = 1
        self._size = 1
        try:
            new = self._new_item()
        except BaseException:
            self._creating = 0
            self._size = 0
            self._waiters.grant(None)  # the next waiter tries in turn
            raise
        self._creating = 0
        if self._closed:
            self._size = 0
            self._dispose_quietly(new, "closed")
            raise PoolClosed(f"{self!r} was closed while creating its item")
        self._shared.append(new)
        self._holds += 1
        while self._waiters:
            self._waiters.grant(None)
        self._emit("create", new, took=self._took)
        self._emit("checkout", new, waited=self._clock() - began)
        return new

    def _pass_turn(self, _granted: Any) -> None:
        # A woken waiter died before it ran: if it was to create, the next
        # waiter does (when the item exists, everybody was woken anyway).
        if not self._shared and not self._creating:
            self._waiters.grant(None)

    def _retire_shared(self, reason: str) -> None:
        item = self._shared.pop()
        self._size = 0
        if self._holds:
            self._retired[id(item)] = [item, self._holds]
            self._holds = 0
        self._dispose_quietly(item, reason)


class _Binding:
    """The item one greenthread holds, and how often it called get()."""

    __slots__ = ("holds", "item", "owner")

    def __init__(self, item: Any, owner: weakref.ref[Any]) -> None:
        self.item = item
        self.owner = owner
        self.holds = 1


class GreenthreadLocalPool(Pool[T]):
    """Each greenthread gets its own item: the same one on every get().

    A greenthread's first get() checks an item out for it (waiting in FIFO
    order while ``max_size`` greenthreads hold one); later gets in the same
    greenthread return that item again, and put() only counts them back.
    When the greenthread ends, its item is disposed and the slot goes to
    the next waiter. :meth:`release` gives the current greenthread's item
    back to the pool early, for another greenthread to reuse.

    Greenthreads started with ``eventlet.spawn`` give their item up as they
    finish; others (``spawn_n``, raw greenlets) once they are garbage
    collected, and at the latest when a get() finds the pool full. With
    ``backend='threads'`` the holder is the OS thread (its item goes when
    the thread ends), with ``'asyncio'`` the task (when the task is done).

    Args:
      max_size: most items (and so greenthreads holding one) at once.
      create: zero-argument callable making an item (or override create()).
      timeout: default seconds a first get() waits.
      dispose: called with each item dropped (or override).
      clock: monotonic clock for the wait statistics.
      backend: as for :class:`~eventlet_pools.Pool` (every backend; with
        threads each method takes the pool's lock).
    """

    _strict_put = True  # a put() with nothing checked out raises PoolError

    def __init__(
        self,
        max_size: int = 4,
        create: Optional[Callable[[], T]] = None,
        *,
        timeout: Optional[float] = None,
        dispose: Optional[Callable[[T], Any]] = None,
        clock: Clock = time.monotonic,
        backend: str = "auto",
    ) -> None:
        check_size("max_size", max_size, 1)  # 0 could never serve anybody
        super().__init__(
            0, max_size, False, create, timeout=timeout, dispose=dispose, clock=clock, backend=backend
        )
        self._bound: dict[int, _Binding] = {}

    @guarded
    def get(self, block: bool = True, timeout: Optional[float] = None) -> T:
        """Return this greenthread's item, checking one out on first use.

        Raises:
          Exception: as :meth:`Pool.get <eventlet_pools.Pool.get>`, on the
            first get() of a greenthread only.
        """
        owner = self._backend.current()
        key = id(owner)
        binding = self._bound.get(key)
        if binding is not None:
            if binding.owner() is owner:
                if self._closed:
                    raise PoolClosed(f"get() from {self!r}")
                self._gets += 1
                binding.holds += 1
                return binding.item  # type: ignore[no-any-return]
            self._end(key, binding)  # a finished greenthread's id, reused
        if self._bound and self.free() == 0:
            self._sweep()
        item = super().get(block, timeout)
        # watch_end keeps the callback alive as long as the binding is kept.
        self._bound[key] = _Binding(item, self._backend.watch_end(owner, self._ended, key))
        return item

    @guarded
    def put(self, item: T) -> None:
        """Count one get() back in; the item stays with its greenthread.

        Raises:
          PoolError: ``item`` is not held by any greenthread, or was put back
            more often than it was got.
        """
        _key, binding = self._binding_of(item)
        if not binding.holds:
            raise PoolError(f"{item!r} was put back more often than it was got from {self!r}")
        binding.holds -= 1

    @guarded
    def release(self) -> None:
        """Give the current greenthread's item back to the pool now.

        Another greenthread may then reuse it; this greenthread's next get()
        checks out another. Does nothing if this greenthread holds none.
        """
        key = id(self._backend.current())
        binding = self._bound.pop(key, None)
        if binding is not None:
            super().put(binding.item)

    @guarded
    def holding(self) -> bool:
        """True when the current greenthread holds an item of this pool."""
        owner = self._backend.current()
        binding = self._bound.get(id(owner))
        return binding is not None and binding.owner() is owner

    @guarded
    def discard(self, item: T) -> None:
        """Drop a broken item: disposed, its greenthread gets a new one next.

        Raises:
          PoolError: ``item`` is not held by any greenthread.
        """
        key, _binding = self._binding_of(item)
        del self._bound[key]
        super().discard(item)

    def _binding_of(self, item: T) -> tuple[int, _Binding]:
        key = id(self._backend.current())
        binding = self._bound.get(key)
        if binding is not None and binding.item is item:
            return key, binding
        for key, binding in self._bound.items():
            if binding.item is item:
                return key, binding
        raise PoolError(f"{item!r} is not checked out of {self!r}")

    @guarded
    def _ended(self, key: int) -> None:
        # From watch_end: either inside the finishing GreenThread itself, or
        # later from a new greenthread once the owner was collected (when
        # its id may already be reused by a live greenthread).
        binding = self._bound.get(key)
        if binding is not None:
            owner = binding.owner()
            if owner is None or self._backend.has_ended(binding.owner) or owner is self._backend.current():
                self._end(key, binding)

    def _end(self, key: int, binding: _Binding) -> None:
        # The greenthread finished: its item is disposed and its slot goes
        # to the first waiter (or, once closed, simply goes).
        if self._bound.get(key) is binding:
            del self._bound[key]
            self._drop(binding.item, "closed" if self._closed else "ended")

    def _sweep(self) -> None:
        # Owners that finished without telling (a greenlet still referenced
        # somewhere, so never collected) give their slots up here.
        for key, binding in list(self._bound.items()):
            if self._backend.has_ended(binding.owner):
                self._end(key, binding)


class AssertionPool(Pool[T]):
    """A debugging pool that allows at most one item checked out at a time.

    A second get() while the item is out raises AssertionError, naming the
    code that checked the first one out, so a hidden second connection
    (say, a helper that opens its own while the caller holds one) shows up
    at once instead of as a deadlock under load. The item is kept between
    checkouts, as in a pool of one.

    Args:
      create: zero-argument callable making the item (or override create()).
      dispose: called with the item when it is dropped (or override).
      store_stack: remember where each checkout happened (default True);
        without it the error cannot say where.
      clock: monotonic clock for the statistics.
      backend: as for :class:`~eventlet_pools.Pool` (every backend; with
        threads each method takes the pool's lock).
    """

    _strict_put = True  # a put() with nothing checked out raises PoolError

    def __init__(
        self,
        create: Optional[Callable[[], T]] = None,
        *,
        dispose: Optional[Callable[[T], Any]] = None,
        store_stack: bool = True,
        clock: Clock = time.monotonic,
        backend: str = "auto",
    ) -> None:
        if not isinstance(store_stack, bool):
            raise TypeError(f"store_stack must be a bool, got {store_stack!r}")
        super().__init__(0, 1, False, create, dispose=dispose, clock=clock, backend=backend)
        self._store_stack = store_stack
        self._checked_out_at: Optional[str] = None

    @guarded
    def get(self, block: bool = True, timeout: Optional[float] = None) -> T:
        """Return the item, creating it on first use.

        Raises:
          AssertionError: the item is already checked out (or being created).
          PoolClosed: the pool is closed.
          Exception: whatever ``create()`` raises.
        """
        if self._closed:
            raise PoolClosed(f"get() from {self!r}")
        if self._size > len(self._free):
            where = self._checked_out_at
            raise AssertionError(
                f"{self!r}: an item is already checked out"
                + (f", at:\n{where}" if where else " (store_stack=False: no stack kept)")
            )
        if self._store_stack:
            self._checked_out_at = "".join(traceback.format_stack()[:-1])
        try:
            return super().get(False)
        except BaseException:
            self._checked_out_at = None
            raise

    @guarded
    def put(self, item: T) -> None:
        """Give the item back.

        Raises:
          PoolError: nothing is checked out.
        """
        super().put(item)
        self._checked_out_at = None

    @guarded
    def discard(self, item: T) -> None:
        """Drop the item as broken; the next get() creates another.

        Raises:
          PoolError: nothing is checked out.
        """
        super().discard(item)
        self._checked_out_at = None

    def resize(self, new_size: int) -> None:
        """Refuse: an AssertionPool holds exactly one item.

        Raises:
          ValueError: ``new_size`` is not 1.
        """
        _only_size(type(self), "max_size", new_size, 1)
