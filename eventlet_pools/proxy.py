"""Proxy: a module-level name for an item checked out per greenthread.

Code written as ``import db; db.cursor()`` needs ``db`` to exist at import
time, long before any connection does, and needs each greenthread to use
its own connection. A :class:`Proxy` is that name: every attribute access
is forwarded to an item checked out lazily, on first use, for the current
greenthread, and given back when the greenthread ends (or on
:meth:`Proxy.release`).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

from eventlet_pools._validate import check_seconds
from eventlet_pools.dbapi import ConnectionPool
from eventlet_pools.errors import PoolError
from eventlet_pools.pool import Pool
from eventlet_pools.variants import GreenthreadLocalPool, StaticPool

__all__ = ["SCOPES", "Proxy"]

#: What ``Proxy(scope=...)`` accepts.
SCOPES = ("greenthread", "shared")


def _endpoints(source: Any) -> tuple[Callable[..., Any], Callable[[Any], None]]:
    # How to check an item out of the source, and how to give it back.
    if isinstance(source, ConnectionPool):
        return source.connect, lambda wrapper: wrapper.close()
    # As item() does: no arguments unless there is a timeout, so a get()
    # overridden with eventlet's signature works.
    return lambda timeout: source.get() if timeout is None else source.get(timeout=timeout), source.put


class Proxy:
    """Forward attribute access to an item of a pool, or to one object.

    ``Proxy(pool)`` with a :class:`~eventlet_pools.Pool` (or a
    :class:`~eventlet_pools.dbapi.ConnectionPool`): with the default
    ``scope='greenthread'``, the first attribute access in a greenthread
    checks an item out for it (waiting like ``pool.get()``), later accesses
    in that greenthread use the same item, and the item goes back to the
    pool when the greenthread ends or calls :meth:`release`. With
    ``scope='shared'``, one item is checked out on first use and shared by
    every greenthread until :meth:`release`.

    ``Proxy(obj)`` with any other object forwards to that object (shared by
    everybody). ``Proxy()`` forwards nothing until :meth:`set` is called, so
    a module can define the name before the pool or object exists.

    Only attribute access, item access, ``len()``, iteration and calls are
    forwarded; ``repr()``, ``bool()``, equality and hashing are the proxy's
    own, so inspecting a proxy never checks anything out. So are the names
    ``set``, ``release``, ``target`` and ``scope``: reach an item attribute
    of one of those names through ``proxy.target()``.

    The main greenlet never ends: an item it checks out stays with it until
    it calls :meth:`release`.

    On the threads and asyncio backends (the pool's own), ``'greenthread'``
    means per OS thread or per task: an item goes back when its thread
    ends or its task is done. Attribute access is synchronous, so in a task
    a first access must find an item free or room to make one (else
    PoolError, as for a synchronous get()).

    Args:
      source: a pool, a plain object, or nothing yet.
      scope: ``'greenthread'`` (default for pools) or ``'shared'``.
      timeout: seconds a first access waits for an item; ``None`` uses the
        pool's own timeout.

    Raises:
      ValueError: an unknown scope, or ``scope='greenthread'`` with a plain
        object (one object cannot be given to each greenthread).
      TypeError: ``timeout`` is not a number.
    """

    _engine: Optional[Pool[Any]]
    _object: Any
    _scope: Optional[str]
    _source: Any
    _timeout: Optional[float]

    def __init__(
        self, source: Any = None, *, scope: Optional[str] = None, timeout: Optional[float] = None
    ) -> None:
        object.__setattr__(self, "_timeout", check_seconds("timeout", timeout))
        object.__setattr__(self, "_engine", None)
        object.__setattr__(self, "_source", None)
        object.__setattr__(self, "_object", None)
        object.__setattr__(self, "_scope", None)
        if source is not None:
            self.set(source, scope=scope)
        elif scope is not None and scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")

    def set(self, source: Any, *, scope: Optional[str] = None) -> None:
        """Point the proxy at a pool or an object (replacing what was set).

        Items checked out of a previous pool go back to it as their
        greenthreads end.

        Raises:
          ValueError: as for the constructor.
        """
        if source is None:
            raise ValueError("Proxy.set() needs a pool or an object, got None")
        is_pool = isinstance(source, (Pool, ConnectionPool))
        if scope is None:
            scope = "greenthread" if is_pool else "shared"
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        if scope == "greenthread" and not is_pool:
            raise ValueError(
                f"scope='greenthread' needs a Pool or ConnectionPool to check items out of, got {source!r}"
            )
        self._retire()
        engine: Optional[Pool[Any]] = None
        if is_pool:
            acquire, give_back = _endpoints(source)
            timeout = self._timeout
            # The engines keep the per-greenthread (or shared) bookkeeping;
            # their "create" checks out of the source, "dispose" gives back.
            # They run on the source's backend: per thread or per task there.
            backend = (source.pool if isinstance(source, ConnectionPool) else source).backend
            if scope == "greenthread":
                engine = GreenthreadLocalPool(
                    sys.maxsize, create=lambda: acquire(timeout), dispose=give_back, backend=backend
                )
            else:
                engine = StaticPool(create=lambda: acquire(timeout), dispose=give_back, backend=backend)
            object.__setattr__(self, "_object", None)
        else:
            object.__setattr__(self, "_object", source)
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_source", source)
        object.__setattr__(self, "_scope", scope)

    def release(self) -> None:
        """Give back the item this greenthread uses (``'shared'``: the shared
        one) now; the next access checks out another. Does nothing when no
        item is held or the proxy wraps a plain object."""
        engine = self._engine
        if isinstance(engine, GreenthreadLocalPool):
            if engine.holding():
                engine.discard(engine.get())
        elif isinstance(engine, StaticPool):
            self._retire()
            fresh = StaticPool(create=engine.create, dispose=engine.dispose, backend=engine.backend)
            object.__setattr__(self, "_engine", fresh)

    @property
    def scope(self) -> Optional[str]:
        """``'greenthread'`` or ``'shared'``; ``None`` before :meth:`set`."""
        return self._scope

    def target(self) -> Any:
        """The item (or object) this greenthread's accesses go to right now,
        checking one out if need be.

        Raises:
          PoolError: nothing was set yet.
          Exception: as the pool's get(), when an item must be checked out.
        """
        engine = self._engine
        if engine is None:
            if self._object is None:
                raise PoolError("this Proxy was not set to a pool or an object yet: call proxy.set(...)")
            return self._object
        item = engine.get()
        engine.put(item)  # the engine keeps it; only the count goes back
        return item

    # ------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        return getattr(self.target(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.target(), name, value)

    def __getitem__(self, key: Any) -> Any:
        return self.target()[key]

    def __len__(self) -> int:
        return len(self.target())

    def __iter__(self) -> Any:
        return iter(self.target())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target()(*args, **kwargs)

    def __repr__(self) -> str:
        if self._scope is None:
            return "<Proxy (not set)>"
        return f"<Proxy scope={self._scope} of {self._source!r}>"

    def _retire(self) -> None:
        # Closing an engine gives back its free items now and the held ones
        # as their greenthreads end.
        engine = self._engine
        if engine is not None:
            engine.close()
