"""@pooled: at most ``max_size`` concurrent calls per key, across processes."""

from __future__ import annotations

import functools
import inspect
import logging
import string
from collections import OrderedDict
from typing import Any, Callable, Optional, Protocol

from eventlet_pools._validate import check_seconds
from eventlet_pools.errors import PoolError, PoolTimeout
from eventlet_pools.redis.pool import RedisTokenPool, _check_max_size, _is_async_client, check_key

__all__ = ["PooledFunction", "pooled"]

logger = logging.getLogger("eventlet_pools")

#: Pools a decorated function keeps, one per resolved key, least recently
#: used first out (a pool dropped here still serves the tokens it handed out).
POOLS_KEPT = 1024


class PooledFunction(Protocol):
    """What :func:`pooled` returns: the function, plus :meth:`size` (or,
    for an ``async def`` function, :meth:`asize`)."""

    __wrapped__: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function in a slot of its key's pool (see :func:`pooled`)."""

    def size(self, *args: Any, **kwargs: Any) -> int:
        """Slots held right now in the pool these arguments would use."""

    async def asize(self, *args: Any, **kwargs: Any) -> int:
        """:meth:`size` of a decorated ``async def`` function."""


def _template_fields(key: str, func: Callable[..., Any]) -> list[str]:
    # The argument names the key template uses; every one must be a
    # parameter of func.
    try:
        parsed = list(string.Formatter().parse(key))
    except ValueError as exc:
        raise ValueError(f"bad key template {key!r}: {exc}") from None
    params = inspect.signature(func).parameters
    fields = []
    literal = ""
    for text, field, _spec, _conversion in parsed:
        literal += text
        if field is None:
            continue
        name = field.split(".", 1)[0].split("[", 1)[0]
        if not name or name.isdigit():
            raise ValueError(
                f"key template {key!r} uses a positional field {{{field}}}: name the argument, "
                f"as in {{{next(iter(params), 'arg')}}}"
            )
        if name not in params:
            raise ValueError(
                f"key template {key!r} names {name!r}, which is not a parameter of "
                f"{func.__qualname__}{inspect.signature(func)}"
            )
        fields.append(name)
    if "|" in literal:  # the queue's separator; braces can only be fields here
        raise ValueError(f"key template {key!r} must not contain '|'")
    return fields


def pooled(
    key: str,
    max_size: int,
    *,
    client: Any,
    on_full: Optional[Callable[..., Any]] = None,
    raise_on_full: bool = False,
    lease: float = 30.0,
    timeout: float = 0,
    prefix: str = "eventlet_pools",
) -> Callable[[Callable[..., Any]], PooledFunction]:
    """Limit concurrent calls of a function to ``max_size`` per key, everywhere.

    ``key`` is a template formatted with the call's arguments by name (as
    ``str.format``, defaults included): ``'user-{user_id}'`` gives each user
    a :class:`RedisTokenPool` of ``max_size`` slots shared by every process.
    A call takes a slot (waiting up to ``timeout`` seconds; by default not
    at all), runs, and releases it. When no slot comes:

    - with ``raise_on_full``, :class:`~eventlet_pools.PoolTimeout` is raised;
    - with ``on_full``, ``on_full(*args, **kwargs)`` is called with the same
      arguments and its result returned;
    - otherwise the call returns None without running.

    The decorated function gets ``.size(*args, **kwargs)``: the slots held
    now in the pool those arguments would use.

    An ``async def`` function needs a ``redis.asyncio`` client: each call
    waits for its slot without blocking the loop, ``on_full`` may be sync
    or async, and the size is ``await f.asize(*args, **kwargs)``. A plain
    function needs a synchronous client (green under eventlet; from any
    OS thread otherwise).

    Args:
      key: the key template; fields must name parameters of the function.
      max_size: slots per resolved key (>= 1).
      client: a ``redis.Redis`` (green under eventlet) or, for an ``async
        def`` function, a ``redis.asyncio.Redis`` (see :class:`RedisTokenPool`).
      on_full: called instead of the function when the pool is full.
      raise_on_full: raise PoolTimeout instead.
      lease: seconds a slot stays held without renewal.
      timeout: seconds a call waits for a slot before it counts as full.
      prefix: namespace of the Redis keys.

    Raises:
      TypeError: a bad ``client``, ``on_full`` or argument type; an ``async
        def`` function without an asyncio client, or the other way round.
      ValueError: a bad template (a field that is not a parameter, a
        positional field, a forbidden character), ``max_size < 1``, both
        ``on_full`` and ``raise_on_full``. At call time, a key whose
        resolved value contains ``{``, ``}`` or ``|``.
      BackendError: at call time, when Redis fails: never a silent call.
    """
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty str template, got {key!r}")
    _check_max_size(max_size)
    if not callable(getattr(client, "register_script", None)):
        raise TypeError(f"client must be a redis.Redis, got {client!r}")
    if on_full is not None and not callable(on_full):
        raise TypeError(f"on_full must be callable, got {on_full!r}")
    if not isinstance(raise_on_full, bool):
        raise TypeError(f"raise_on_full must be a bool, got {raise_on_full!r}")
    if on_full is not None and raise_on_full:
        raise ValueError("give on_full or raise_on_full=True, not both")
    wait = check_seconds("timeout", timeout)
    if wait is None:
        raise ValueError("timeout must be a number of seconds (0: do not wait)")

    def decorate(func: Callable[..., Any]) -> PooledFunction:
        fields = _template_fields(key, func)
        is_async = inspect.iscoroutinefunction(func)
        if is_async != _is_async_client(client):
            raise TypeError(
                f"{func.__qualname__} is {'an async' if is_async else 'a plain'} function: it needs a "
                f"{'redis.asyncio.Redis' if is_async else 'synchronous redis.Redis'} client, got {client!r}"
            )
        signature = inspect.signature(func)
        pools: OrderedDict[str, RedisTokenPool] = OrderedDict()

        def pool_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RedisTokenPool:
            if fields:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                resolved = check_key(key.format(**bound.arguments))
            else:
                resolved = key
            pool = pools.get(resolved)
            if pool is None:
                pool = RedisTokenPool(client, resolved, max_size, lease=lease, prefix=prefix)
                pools[resolved] = pool
                if len(pools) > POOLS_KEPT:
                    pools.popitem(last=False)
            else:
                pools.move_to_end(resolved)
            return pool

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            pool = pool_for(args, kwargs)
            try:
                token = pool.get(wait > 0, wait)
            except PoolTimeout:
                if raise_on_full:
                    raise
                return None if on_full is None else on_full(*args, **kwargs)
            try:
                return func(*args, **kwargs)
            finally:
                try:
                    pool.put(token)
                except PoolError as exc:
                    # The call ran; its result stands. The slot was lost or
                    # will expire by itself.
                    logger.warning("releasing the slot of %s after a call: %r", pool.key, exc)

        @functools.wraps(func)
        async def acall(*args: Any, **kwargs: Any) -> Any:
            pool = pool_for(args, kwargs)
            try:
                token = await pool.aget(wait > 0, wait)
            except PoolTimeout:
                if raise_on_full:
                    raise
                if on_full is None:
                    return None
                result = on_full(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result
            try:
                return await func(*args, **kwargs)
            finally:
                try:
                    await pool.aput(token)
                except PoolError as exc:
                    logger.warning("releasing the slot of %s after a call: %r", pool.key, exc)

        def size(*args: Any, **kwargs: Any) -> int:
            return pool_for(args, kwargs).size()

        async def asize(*args: Any, **kwargs: Any) -> int:
            return await pool_for(args, kwargs).asize()

        if is_async:
            acall.asize = asize  # type: ignore[attr-defined]
            return acall  # type: ignore[return-value]
        call.size = size  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    return decorate
