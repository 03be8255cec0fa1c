"""Token, TokenPool: a cooperative semaphore built on Pool."""

from __future__ import annotations

from types import TracebackType
from typing import Optional

from eventlet_pools.errors import PoolError
from eventlet_pools.pool import Pool, _ItemBlock, _ItemContext, _new_context

__all__ = ["Token", "TokenPool"]


class Token:
    """An opaque permit: holding one means you may use the limited resource."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<Token at {id(self):#x}>"


class _PoolToken(Token):
    """A token a TokenPool made itself: also the ``with`` block that gives
    it back (see :meth:`TokenPool.item`), so the block costs no context
    object of its own."""

    __slots__ = ("_held", "_pool")

    def __init__(self, pool: TokenPool) -> None:
        self._pool = pool
        # True from item() to the end of its block (or a discard).
        self._held = False

    def __enter__(self) -> Token:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._held:
            self._held = False
            pool = self._pool
            # (put() is Pool's own: see TokenPool.item.)
            if len(pool._free) < pool._push_cap:
                pool._push(self)  # Pool.put's fast path
            else:
                pool.put(self)

    def discard(self) -> None:
        """Drop this permit instead of giving it back; its slot is freed.

        Raises:
          PoolError: it is not held by a ``with`` block of item().
        """
        if not self._held:
            raise PoolError("discard() outside the with block: nothing is held")
        self._pool.discard(self)  # which clears _held (TokenPool._discard)


class _TakenContext(_ItemContext[Token]):
    # TokenPool.item()'s context for a token it did not make itself (a
    # subclass's create() returned a plain Token): taken already.
    __slots__ = ()

    def __enter__(self) -> Token:
        return self._item


class TokenPool(Pool[Token]):
    """A pool of :class:`Token` permits: at most ``max_size`` holders at once.

    Use it to bound concurrency where there is no object to pool, e.g. the
    number of outbound calls in flight::

        limit = TokenPool(max_size=10)
        with limit.item():
            call_the_backend()

    It takes the same arguments, and keeps the same FIFO, timeout and
    no-lost-capacity guarantees, as :class:`~eventlet_pools.Pool`.
    """

    def create(self) -> Token:
        """Return a new, unique :class:`Token`."""
        return _PoolToken(self)

    def item(self, timeout: Optional[float] = None) -> _ItemBlock[Token]:
        """Take a permit for a ``with`` block; it always comes back.

        Unlike :meth:`Pool.item`, the permit is taken by this call (as it
        would be by :meth:`get`), not when the block starts, and the token
        is its own context manager: ``with limit.item() as token:`` costs
        about what ``with semaphore:`` does. Call it in the ``with``
        statement: a permit taken and never used in a block is not given
        back. ``token.discard()`` inside the block (or ``discard(token)``
        on the pool) drops the permit instead, as for other pools.

        Raises:
          Exception: as :meth:`get`.
        """
        # A token of this kind comes back through Pool.put, run by its
        # __exit__ (the fast path inline): so only while put() is Pool's own.
        # It goes back to the pool that handed it out (a token of another
        # TokenPool put into this one belongs to this one from then on).
        free_items = self._free
        if free_items and timeout is None and self._item_fast:
            self._gets += 1  # Pool.get's fast path
            token = free_items.popleft()
            if token.__class__ is _PoolToken:
                token._pool = self
                token._held = True
                return token
        else:
            # As _ItemContext calls it: a get() overridden with eventlet's
            # signature takes no arguments.
            token = self.get() if timeout is None else self.get(timeout=timeout)
            if token.__class__ is _PoolToken and type(self).put is Pool.put:
                token._pool = self
                token._held = True
                return token
        context: _TakenContext = _new_context(_TakenContext)
        context._pool = self
        context._timeout = timeout
        context._item = token
        context._held = True
        self._in_context[id(token)] = context
        return context

    def _discard(self, item: Token, reason: str) -> None:
        if type(item) is _PoolToken and item._pool is self:
            item._held = False  # its with block must not give it back too
        super()._discard(item, reason)
