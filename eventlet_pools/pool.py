"""Pool: free items, size accounting, get/put/item/resize/close."""

from __future__ import annotations

import logging
from collections import deque
from numbers import Real
from types import TracebackType
from typing import Any, Callable, Generic, Optional, TypeVar

from eventlet_pools._waiters import EXPIRED, GreenWaiterQueue
from eventlet_pools.errors import PoolClosed, PoolError, PoolTimeout

__all__ = ["Pool"]

T = TypeVar("T")

logger = logging.getLogger("eventlet_pools")


class _Slot:
    """Type of the grant that means "capacity is yours: create an item"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<slot>"


_SLOT: Any = _Slot()


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _check_timeout(name: str, value: object) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    seconds = float(value)
    if not seconds >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0 seconds or None, got {value!r}")
    return seconds


def _check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {value!r}")


def _remove_identical(seq: deque[Any] | list[Any], item: object) -> None:
    # Identity, not equality: two equal connections are still two connections.
    # Grants go out in FIFO order, so the item is usually the first one.
    if seq[0] is item:
        del seq[0]
        return
    for index, candidate in enumerate(seq):
        if candidate is item:
            del seq[index]
            return
    raise PoolError(f"pool bookkeeping lost track of {item!r}")  # pragma: no cover


class Pool(Generic[T]):
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

    All methods are for greenthreads of one hub (one OS thread); the pool is
    cooperative, not thread-safe.

    Args:
      min_size: items created at construction.
      max_size: most items alive at once (checked out, free, or being
        created). Change it at run time with :meth:`resize`.
      order_as_stack: hand out the most recently returned item first
        (keeps a warm few in use); by default items go round-robin.
      create: zero-argument callable making a new item; by default the
        :meth:`create` method, which subclasses override.
      timeout: default seconds :meth:`get` waits; ``None`` waits for ever.
      dispose: called with each item the pool drops (closed, discarded,
        shrunk away); by default the :meth:`dispose` method, which does
        nothing. An exception from it is logged and swallowed.

    Raises:
      TypeError: an argument of the wrong type.
      ValueError: a negative size or timeout, or ``min_size > max_size``.
      Anything ``create()`` raises while filling ``min_size`` (the items
      already made are disposed).
    """

    def __init__(
        self,
        min_size: int = 0,
        max_size: int = 4,
        order_as_stack: bool = False,
        create: Optional[Callable[[], T]] = None,
        *,
        timeout: Optional[float] = None,
        dispose: Optional[Callable[[T], Any]] = None,
    ) -> None:
        _check_size("min_size", min_size)
        _check_size("max_size", max_size)
        if min_size > max_size:
            raise ValueError(f"min_size ({min_size}) must not exceed max_size ({max_size})")
        _check_callable("create", create)
        _check_callable("dispose", dispose)
        self._timeout = _check_timeout("timeout", timeout)
        self.min_size = min_size
        self._max_size = max_size
        if create is not None:
            self.create = create  # type: ignore[method-assign]
        if dispose is not None:
            self.dispose = dispose  # type: ignore[method-assign,assignment]
        # current_size counts every item alive or being created:
        #   checked out + len(free_items) + _creating == current_size
        self.current_size = 0
        self._free: deque[T] = deque()
        self.order_as_stack = order_as_stack  # binds _push to self._free
        # Items in free_items promised to a woken waiter that has not run yet.
        self._reserved: list[T] = []
        # Slots reserved for a create() in progress or granted to a waiter.
        self._creating = 0
        self._closed = False
        # The size the pool may keep or grow to: max_size while open, -1 once
        # closed. put() keeps an item, and waiters are granted capacity, only
        # below it, so one comparison covers both "shrunk" and "closed".
        self._keep_limit = max_size
        self._waiters = GreenWaiterQueue()
        try:
            for _ in range(min_size):
                self.current_size += 1
                try:
                    new = self.create()
                except BaseException:
                    self.current_size -= 1
                    raise
                self._free.append(new)
        except BaseException:
            self.close()
            raise

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
          Whatever ``create()`` raises; the capacity goes back.
        """
        free_items = self._free
        if free_items and not self._reserved:
            if timeout is not None:  # a bad timeout fails now, not once contended
                _check_timeout("timeout", timeout)
            # Both orders take from the left; put() decides the order.
            return free_items.popleft()
        return self._get_slow(block, timeout)

    def put(self, item: T) -> None:
        """Give back a checked-out item; never blocks, never switches.

        The item goes straight to the first waiting greenthread if there is
        one, otherwise back to ``free_items``. After a shrinking
        :meth:`resize`, or once closed, it is disposed instead.

        Raises:
          PoolError: nothing is checked out (the call changes nothing).
        """
        size = self.current_size
        if self._waiters or size > self._keep_limit:
            self._put_slow(item)
            return
        if len(self._free) + self._creating >= size:
            raise PoolError(f"{item!r} returned but nothing is checked out of {self!r}")
        self._push(item)

    # ------------------------------------------------------------------
    def item(self, timeout: Optional[float] = None) -> _ItemContext[T]:
        """Check an item out for a ``with`` block; it always comes back.

        The item is put back when the block ends, also on exceptions, kills
        and timeouts. Call ``.discard()`` on the context object (not on the
        pool) to drop a broken item instead::

            with pool.item() as conn:
                conn.send(b"ping")

            ctx = pool.item()
            with ctx as conn:
                if not conn.alive():
                    ctx.discard()

        Raises:
          As :meth:`get`.
        """
        return _ItemContext(self, timeout)

    def discard(self, item: T) -> None:
        """Drop a checked-out item that is broken; its slot is freed.

        The item is disposed, and the first waiter (if any) is woken to
        create a replacement.

        Raises:
          PoolError: nothing is checked out (the call changes nothing).
        """
        self._check_out_count(item)
        self.current_size -= 1
        self._dispose_quietly(item)
        self._grant_free_capacity()

    def resize(self, new_size: int) -> None:
        """Change ``max_size`` at run time.

        Growing wakes as many waiters as the new capacity allows, at once.
        Shrinking disposes free items beyond the new size now; checked-out
        items beyond it are disposed as they come back. ``min_size`` is left
        alone and may exceed the new size.

        Raises:
          TypeError, ValueError: ``new_size`` is not an int >= 0.
        """
        _check_size("new_size", new_size)
        self._max_size = new_size
        if not self._closed:
            self._keep_limit = new_size
        while self.current_size > new_size and len(self._free) > len(self._reserved):
            self.current_size -= 1
            self._dispose_quietly(self._take_unreserved())
        self._grant_free_capacity()

    @property
    def max_size(self) -> int:
        """Most items alive at once; assigning to it calls :meth:`resize`."""
        return self._max_size

    @max_size.setter
    def max_size(self, new_size: int) -> None:
        self.resize(new_size)

    def free(self) -> int:
        """How many get() calls would succeed now without waiting."""
        free = len(self._free) - len(self._reserved) + self._max_size - self.current_size
        return free if free > 0 else 0

    def waiting(self) -> int:
        """How many greenthreads are waiting for an item."""
        return len(self._waiters)

    @property
    def free_items(self) -> deque[T]:
        """The free items, next to be handed out first (eventlet's attribute).

        An item promised to a waiter that has not run yet stays visible here,
        as in eventlet, but nobody else can take it.
        """
        return self._free

    @free_items.setter
    def free_items(self, items: deque[T]) -> None:
        self._free = items
        self.order_as_stack = self._order_as_stack  # rebind _push to the new deque

    @property
    def order_as_stack(self) -> bool:
        """Hand out the most recently returned item first; settable."""
        return self._order_as_stack

    @order_as_stack.setter
    def order_as_stack(self, as_stack: bool) -> None:
        self._order_as_stack = bool(as_stack)
        # get() always takes from the left; the order is where put() adds.
        self._push = self._free.appendleft if as_stack else self._free.append

    @property
    def timeout(self) -> Optional[float]:
        """Default seconds :meth:`get` waits (``None``: for ever); settable."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: Optional[float]) -> None:
        self._timeout = _check_timeout("timeout", seconds)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop handing out items; idempotent.

        Every waiter is woken with PoolClosed, and so is any later get().
        Free items are disposed now, checked-out ones when they come back.
        """
        if self._closed:
            return
        self._closed = True
        self._keep_limit = -1
        self._waiters.fail_all(lambda: PoolClosed(f"{self!r} was closed while waiting"))
        while len(self._free) > len(self._reserved):
            self.current_size -= 1
            self._dispose_quietly(self._take_unreserved())

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

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return (
            f"<{type(self).__name__}{state} size={self.current_size}/{self._max_size} "
            f"free={self.free()} waiting={self.waiting()}>"
        )

    # ------------------------------------------------------------------
    # slow paths and bookkeeping
    def _get_slow(self, block: bool, timeout: Optional[float]) -> T:
        if self._closed:
            raise PoolClosed(f"get() from {self!r}")
        if not self._waiters:
            if len(self._free) > len(self._reserved):
                return self._take_unreserved()
            if self.current_size < self._max_size:
                self.current_size += 1
                self._creating += 1
                return self._create_in_slot()
        if not block:
            raise PoolTimeout(f"get(block=False) found nothing free in {self!r}")
        timeout = self._timeout if timeout is None else _check_timeout("timeout", timeout)
        if timeout == 0:
            raise PoolTimeout(f"get(timeout=0) found nothing free in {self!r}")
        granted = self._waiters.park(timeout, self._abandon)
        # Other greenthreads ran while parked: re-read state (through the
        # property, which type checkers do not narrow from the check above).
        if granted is EXPIRED:
            raise PoolTimeout(f"waited {timeout} s for an item of {self!r}")
        if granted is _SLOT:
            if self.closed:
                self._release_slot()
                raise PoolClosed(f"{self!r} was closed while waiting")
            return self._create_in_slot()
        self._take_reserved(granted)
        if self.closed:
            self.current_size -= 1
            self._dispose_quietly(granted)
            raise PoolClosed(f"{self!r} was closed while waiting")
        return granted  # type: ignore[no-any-return]

    def _create_in_slot(self) -> T:
        # The caller already counted this creation in current_size and
        # _creating, so no other greenthread can take the same capacity.
        try:
            new = self.create()
        except BaseException:
            self._release_slot()
            raise
        self._creating -= 1
        if self._closed:
            self.current_size -= 1
            self._dispose_quietly(new)
            raise PoolClosed(f"{self!r} was closed while creating an item")
        return new

    def _put_slow(self, item: T) -> None:
        self._check_out_count(item)
        if self.current_size > self._keep_limit:  # closed, or shrunk below us
            self.current_size -= 1
            self._dispose_quietly(item)
            return
        self._push(item)
        if self._waiters:
            # Stays visible in free_items (as in eventlet) but reserved.
            self._reserved.append(item)
            self._waiters.grant(item)

    def _check_out_count(self, item: T) -> None:
        if len(self._free) + self._creating >= self.current_size:
            raise PoolError(f"{item!r} returned but nothing is checked out of {self!r}")

    def _abandon(self, granted: Any) -> None:
        # A waiter was granted something but died before it could run.
        if granted is _SLOT:
            if self._waiters and self.current_size <= self._keep_limit:
                self._waiters.grant(_SLOT)
            else:
                self._release_slot()
            return
        if self.current_size > self._keep_limit:
            self._take_reserved(granted)
            self.current_size -= 1
            self._dispose_quietly(granted)
        elif self._waiters:
            self._waiters.grant(granted)
        else:
            _remove_identical(self._reserved, granted)

    def _release_slot(self) -> None:
        # A slot counted for a create() that will not happen goes back, and
        # the next waiter may take it (a no-op once closed: _keep_limit is -1).
        self._creating -= 1
        self.current_size -= 1
        self._grant_free_capacity()

    def _take_reserved(self, item: T) -> None:
        # A promised item leaves free_items together with its promise.
        _remove_identical(self._free, item)
        _remove_identical(self._reserved, item)

    def _grant_free_capacity(self) -> None:
        # Whenever capacity frees up, the first waiters get to create.
        waiters = self._waiters
        while waiters and self.current_size < self._keep_limit:
            self.current_size += 1
            self._creating += 1
            waiters.grant(_SLOT)

    def _take_unreserved(self) -> T:
        # Slow path: hand out the first free item no waiter was promised.
        reserved = self._reserved
        if not reserved:
            return self._free.popleft()
        skip: dict[int, int] = {}
        for promised in reserved:
            skip[id(promised)] = skip.get(id(promised), 0) + 1
        for index, candidate in enumerate(self._free):
            key = id(candidate)
            if skip.get(key):
                skip[key] -= 1
                continue
            del self._free[index]
            return candidate
        raise PoolError(f"no unreserved free item in {self!r}")  # pragma: no cover

    def _dispose_quietly(self, item: T) -> None:
        try:
            self.dispose(item)
        except Exception:
            logger.exception("dispose(%r) raised; the item is dropped anyway", item)


class _ItemContext(Generic[T]):
    """What :meth:`Pool.item` returns: checks out on enter, back on exit."""

    __slots__ = ("_held", "_item", "_pool", "_timeout")

    def __init__(self, pool: Pool[T], timeout: Optional[float]) -> None:
        self._pool = pool
        self._timeout = timeout
        self._held = False

    def __enter__(self) -> T:
        item = self._item = self._pool.get(True, self._timeout)
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
            self._pool.put(self._item)

    def discard(self) -> None:
        """Drop the checked-out item as broken instead of putting it back.

        Raises:
          PoolError: nothing is held by this context.
        """
        if not self._held:
            raise PoolError("discard() outside the with block: nothing is held")
        self._held = False
        self._pool.discard(self._item)
