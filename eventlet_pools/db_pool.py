"""eventlet.db_pool's API on this library's Pool: ``from eventlet_pools import db_pool``.

Code written for :mod:`eventlet.db_pool` keeps working when its import
changes to this module: the same classes, arguments and methods
(:class:`RawConnectionPool`, :class:`TpooledConnectionPool`,
:data:`ConnectionPool`, :class:`DatabaseConnector`; ``get``/``put``/
``item``/``clear``; ``max_idle``, ``max_age``, ``connect_timeout``,
``cleanup``). What changes is what the pool underneath guarantees:

* Waiting greenthreads are served first come, first served, and
  ``get(timeout=...)`` can bound the wait (PoolTimeout).
* No capacity is lost: a connect that fails or times out, a cleanup that
  raises, a dead connection returned while others wait, a waiter killed
  or timed out, each gives its slot to the next waiter. A wrapper that is
  garbage collected without ``close()`` is rolled back and returned.
* Idle and old connections are closed by the pool's maintenance
  greenthread (``max_idle`` never below ``min_size``), not by hub timers.
* Returning a connection twice, or ``None`` with nothing checked out,
  logs a warning and changes nothing (eventlet's pool would miscount).

As in eventlet.db_pool, ``max_idle`` or ``max_age`` of 0 closes every
connection when it comes back (the pool is then only a limit on how many
connections are open at once), and ``put(None)`` says "the connection I had
died": its slot goes to a waiter, which connects anew.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Optional

from eventlet_pools._validate import check_callable, check_seconds
from eventlet_pools._waiters import _import_eventlet
from eventlet_pools.dbapi import close_quietly
from eventlet_pools.errors import ConnectTimeout
from eventlet_pools.pool import Pool

__all__ = [
    "BaseConnectionPool",
    "ConnectTimeout",
    "ConnectionPool",
    "DatabaseConnector",
    "GenericConnectionWrapper",
    "PooledConnectionWrapper",
    "RawConnectionPool",
    "TpooledConnectionPool",
    "cleanup_rollback",
]

logger = logging.getLogger("eventlet_pools")

# "Use the pool's cleanup", for put() and item(); None means "no cleanup".
_MISSING: Any = object()


def cleanup_rollback(conn: Any) -> None:
    """The default cleanup: roll back whatever the holder left open."""
    conn.rollback()


class BaseConnectionPool(Pool[Any]):
    """A pool of DB-API connections handed out in wrappers whose close() returns them.

    ``get()`` returns a :class:`PooledConnectionWrapper` around a connection
    made by ``db_module.connect(*args, **kwargs)``; give it back with
    ``put(conn)`` or ``conn.close()``, or use ``with pool.item() as conn``.
    Before a connection goes back to the free list, ``cleanup(conn)`` runs
    (by default a rollback); if it raises, the connection is closed and its
    slot goes to the next waiter.

    Args:
      db_module: a DB-API module (or any object with ``connect``).
      min_size: connections opened at once; at least this many idle ones
        stay open (they are not opened again once closed, e.g. by clear()).
      max_size: most connections open at once.
      max_idle: seconds a free connection may stay unused before it is
        closed (never below ``min_size``); 0 closes each one as it comes back.
      max_age: seconds after it was opened that a connection is closed
        (when it comes back, or while it is free); 0: as for ``max_idle``.
      connect_timeout: seconds a connect may take before
        :class:`ConnectTimeout`; ``None`` for no limit.
      cleanup: ``cleanup(conn)`` run on each connection that comes back;
        ``None`` for none.
      *args: passed to ``db_module.connect``.
      **kwargs: passed to ``db_module.connect``.

    Raises:
      TypeError: ``db_module`` has no ``connect``; a bad argument type.
      ValueError: a negative duration or size, or ``min_size > max_size``.
      Exception: whatever connecting raises while opening ``min_size``
        connections.
    """

    def __init__(
        self,
        db_module: Any,
        min_size: int = 0,
        max_size: int = 4,
        max_idle: float = 10,
        max_age: float = 30,
        connect_timeout: Optional[float] = 5,
        cleanup: Optional[Callable[[Any], Any]] = cleanup_rollback,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if not callable(getattr(db_module, "connect", None)):
            raise TypeError(f"db_module must be a DB-API module with connect(), got {db_module!r}")
        idle = _check_duration("max_idle", max_idle)
        age = _check_duration("max_age", max_age)
        if check_seconds("connect_timeout", connect_timeout) == 0:
            raise ValueError(f"connect_timeout must be > 0 seconds or None, got {connect_timeout!r}")
        check_callable("cleanup", cleanup)
        self._db_module = db_module
        self._args = args
        self._kwargs = kwargs
        self._max_idle = idle
        self._max_age = age
        self.connect_timeout = connect_timeout
        self.cleanup = cleanup
        # eventlet.db_pool: a max_idle or max_age of 0 keeps nothing.
        self._keep_nothing = idle == 0 or age == 0
        super().__init__(
            min_size,
            max_size,
            True,
            dispose=close_quietly,
            max_idle=idle or None,
            max_age=age or None,
            backend="eventlet",
        )

    @property
    def max_idle(self) -> float:
        """Seconds a free connection may stay unused (0: none is kept)."""
        return self._max_idle

    @property
    def max_age(self) -> float:
        """Seconds a connection may live after it was opened (0: none is kept)."""
        return self._max_age

    def create(self) -> Any:
        """Open a connection with ``db_module.connect(*args, **kwargs)``."""
        return self.connect(self._db_module, self.connect_timeout, *self._args, **self._kwargs)

    @classmethod
    def connect(cls, db_module: Any, connect_timeout: Optional[float], *args: Any, **kwargs: Any) -> Any:
        """``db_module.connect(*args, **kwargs)``, within ``connect_timeout``.

        Raises:
          ConnectTimeout: it took longer than ``connect_timeout`` seconds.
        """
        timeout = _import_eventlet("eventlet.timeout").Timeout(
            connect_timeout, ConnectTimeout(f"connecting took longer than {connect_timeout} s")
        )
        try:
            return cls._open(db_module, *args, **kwargs)
        finally:
            timeout.cancel()

    @classmethod
    def _open(cls, db_module: Any, *args: Any, **kwargs: Any) -> Any:
        return db_module.connect(*args, **kwargs)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> PooledConnectionWrapper:
        """A connection in a wrapper; waits (in line) if all are in use.

        Raises:
          ConnectTimeout: connecting took longer than ``connect_timeout``.
          Exception: as :meth:`Pool.get <eventlet_pools.Pool.get>`.
        """
        return PooledConnectionWrapper(super().get(block, timeout), self)

    def put(self, conn: Any, cleanup: Any = _MISSING) -> None:
        """Give a connection back (its wrapper is emptied); ``None`` if it died.

        ``cleanup`` overrides the pool's for this call (``None``: none).
        A connection that is too old, or whose cleanup raises, is closed and
        its slot goes to the next waiter. ``None`` (or a wrapper whose
        connection is false) releases a slot of a checked-out connection.
        """
        returned_twice = isinstance(conn, GenericConnectionWrapper) and "_base" not in vars(conn)
        raw = self._unwrap_connection(conn)
        if raw is None:
            self._lost_checkout(returned_twice)
            return
        self._give_back(raw, self.cleanup if cleanup is _MISSING else cleanup)

    @contextlib.contextmanager
    def item(  # type: ignore[override]
        self, timeout: Optional[float] = None, cleanup: Any = _MISSING
    ) -> Iterator[PooledConnectionWrapper]:
        """``with pool.item() as conn:`` get, then put (with ``cleanup``) at the end."""
        conn = self.get() if timeout is None else self.get(timeout=timeout)
        try:
            yield conn
        finally:
            self.put(conn, cleanup=cleanup)

    def discard(self, conn: Any) -> None:
        """Close a checked-out connection (or its wrapper) for good; its slot is freed.

        Raises:
          PoolError: nothing is checked out.
        """
        raw = self._unwrap_connection(conn)
        if raw is None:
            self._lost_checkout(False)
            return
        super().discard(raw)

    def clear(self) -> None:
        """Close every free connection now; checked-out ones are not touched."""
        free = self._free
        while free:
            item = free.popleft()
            self._item_gone()
            self._dispose_quietly(item, "cleared")

    def _refill(self) -> None:
        # As in eventlet.db_pool, min_size connections are opened when the
        # pool is made, not kept up later: after clear() none stays open.
        # (Maintenance still leaves min_size idle ones open.)
        return

    def _give_back(self, raw: Any, cleanup: Optional[Callable[[Any], Any]]) -> None:
        if self._nothing_out():
            self._drop_stray(raw)  # returned twice, or never ours
            return
        if self._keep_nothing:
            self._discard(raw, "aged")
            return
        if cleanup is not None:
            try:
                cleanup(raw)
            except Exception as exc:
                logger.warning("cleanup %r of %r raised %r; closing the connection", cleanup, raw, exc)
                self._discard(raw, "reset_failed")
                return
            except BaseException:
                self._discard(raw, "reset_failed")  # interrupted: its state is unknown
                raise
        super().put(raw)

    def _lost_checkout(self, returned_twice: bool) -> None:
        # put(None): a checked-out connection died; its slot is released
        # (lowering current_size lets the first waiter connect anew).
        if returned_twice:
            logger.warning("a connection was put back into %r twice; the second put() is ignored", self)
        elif self._nothing_out():
            logger.warning("None was put back into %r with nothing checked out; ignored", self)
        else:
            self.current_size -= 1

    def _return_collected(self, raw: Any) -> None:
        # A wrapper was garbage collected while checked out: roll back what
        # its holder left behind, then give the connection back.
        logger.warning("a connection of %r was garbage collected without close(); returning it", self)
        self._give_back(raw, cleanup_rollback)

    def _unwrap_connection(self, conn: Any) -> Any:
        """The driver's connection inside a wrapper (which is emptied), or None.

        None for ``None``, an emptied wrapper, or anything without ``_base``
        (eventlet.db_pool's private helper, kept for code that calls it).
        """
        try:
            if not conn:
                return None
            base = conn._base
        except AttributeError:
            return None
        destroy = getattr(conn, "_destroy", None)
        if destroy is not None:
            destroy()
        return base

    def _safe_close(self, conn: Any, quiet: bool = False) -> None:
        """Close ``conn``, ignoring errors (logged unless ``quiet``).

        eventlet.db_pool's private helper, kept for code that calls it.
        """
        try:
            conn.close()
        except AttributeError:
            pass  # None, or not a connection
        except Exception as exc:
            if not quiet:
                logger.warning("closing %r raised %r", conn, exc)


class RawConnectionPool(BaseConnectionPool):
    """Hands out the driver's connections themselves (use a green driver)."""


class TpooledConnectionPool(BaseConnectionPool):
    """Hands out connections whose calls run in eventlet's thread pool.

    For drivers that block (C extensions that eventlet cannot make green):
    each call on the connection, and on the cursors it returns, runs in
    :mod:`eventlet.tpool`'s OS threads while other greenthreads go on.
    """

    @classmethod
    def _open(cls, db_module: Any, *args: Any, **kwargs: Any) -> Any:
        tpool = _import_eventlet("eventlet.tpool")
        conn = tpool.execute(db_module.connect, *args, **kwargs)
        return tpool.Proxy(conn, autowrap_names=("cursor",))


ConnectionPool = TpooledConnectionPool
"""As in eventlet.db_pool, the default pool is the thread-pooled one."""


class GenericConnectionWrapper:
    """Forwards every attribute to the driver's connection (``_base``).

    ``cursor``, ``commit`` and ``rollback`` are methods of the wrapper that
    look the connection up when called, as eventlet's are: taking
    ``conn.cursor`` from an emptied wrapper works, calling it raises.
    """

    def __init__(self, baseconn: Any) -> None:
        self._base = baseconn

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        """The connection's ``cursor(...)``."""
        return self._base.cursor(*args, **kwargs)

    def commit(self) -> Any:
        """The connection's ``commit()``."""
        return self._base.commit()

    def rollback(self) -> Any:
        """The connection's ``rollback()``."""
        return self._base.rollback()

    def __getattr__(self, name: str) -> Any:
        # Called only for names the wrapper lacks; once emptied, it has no
        # _base either, and every use says why.
        try:
            base = vars(self)["_base"]
        except KeyError:
            raise AttributeError(f"{name!r}: this connection was given back to its pool") from None
        return getattr(base, name)

    def __enter__(self) -> Any:
        return self._base.__enter__()

    def __exit__(self, *exc_info: Any) -> Any:
        return self._base.__exit__(*exc_info)

    def __repr__(self) -> str:
        base = vars(self).get("_base", _MISSING)
        return f"<{type(self).__name__} (given back)>" if base is _MISSING else repr(base)


class PooledConnectionWrapper(GenericConnectionWrapper):
    """What a pool's get() returns: close() gives the connection back.

    After close() (or the pool's put()) the wrapper is empty: false, and
    any use raises AttributeError. A wrapper garbage collected while it
    still holds its connection gives it back, rolled back, from a
    greenthread of its own.
    """

    def __init__(self, baseconn: Any, pool: BaseConnectionPool) -> None:
        super().__init__(baseconn)
        self._pool: Optional[BaseConnectionPool] = pool

    def __bool__(self) -> bool:
        base = vars(self).get("_base", _MISSING)
        return base is not _MISSING and bool(base)

    def _destroy(self) -> None:
        self._pool = None
        vars(self).pop("_base", None)

    def close(self) -> None:
        """Give the connection back to its pool; the wrapper is emptied."""
        pool = self._pool
        if self and pool is not None:
            pool.put(self)
        self._destroy()

    def __del__(self) -> None:
        state = vars(self)
        pool, base = state.get("_pool"), state.get("_base", _MISSING)
        if pool is None or base is _MISSING:
            return
        self._destroy()
        with contextlib.suppress(Exception):  # the interpreter is shutting down
            pool._spawn(pool._return_collected, base)


class DatabaseConnector:
    """One connection pool per (host, database), made on first use.

    Args:
      module: the DB-API module every pool connects with.
      credentials: host -> connect keyword arguments (user, password...);
        the key ``'default'`` serves hosts not listed.
      conn_pool: the pool class (:data:`ConnectionPool` by default).
      *args: passed to every pool (then to ``connect``).
      **kwargs: passed to every pool (then to ``connect``).

    Raises:
      TypeError: ``module`` has no ``connect``, or ``credentials`` is not a mapping.
    """

    def __init__(
        self,
        module: Any,
        credentials: Mapping[str, Mapping[str, Any]],
        conn_pool: Optional[type[BaseConnectionPool]] = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        if not callable(getattr(module, "connect", None)):
            raise TypeError(f"module must be a DB-API module with connect(), got {module!r}")
        if not isinstance(credentials, Mapping):
            raise TypeError(f"credentials must map hosts to connect arguments, got {credentials!r}")
        self._conn_pool_class = conn_pool if conn_pool is not None else ConnectionPool
        self._module = module
        self._args = args
        self._kwargs = kwargs
        self._credentials = credentials
        self._databases: dict[tuple[str, str], BaseConnectionPool] = {}

    def credentials_for(self, host: str) -> Optional[Mapping[str, Any]]:
        """The connect arguments for ``host``, else the ``'default'`` ones, else None."""
        if host in self._credentials:
            return self._credentials[host]
        return self._credentials.get("default")

    def get(self, host: str, dbname: str) -> BaseConnectionPool:
        """The pool of connections to ``dbname`` on ``host``.

        Raises:
          ValueError: no credentials for ``host`` and no ``'default'`` ones.
        """
        key = (host, dbname)
        pool = self._databases.get(key)
        if pool is None:
            credentials = self.credentials_for(host)
            if credentials is None:
                raise ValueError(f"no credentials for host {host!r}, and no 'default' ones")
            kwargs = {**self._kwargs, "db": dbname, "host": host, **credentials}
            pool = self._databases[key] = self._conn_pool_class(self._module, *self._args, **kwargs)
        return pool


def _check_duration(name: str, value: object) -> float:
    seconds = check_seconds(name, value)
    if seconds is None:
        raise TypeError(f"{name} must be a number of seconds (0 keeps nothing), got None")
    return seconds
