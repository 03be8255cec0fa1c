"""DB-API 2.0 connection pooling: ConnectionPool, the wrappers it hands out,
and manage(), which pools a whole driver module.

A :class:`ConnectionPool` keeps DB-API connections in a
:class:`~eventlet_pools.Pool` and hands each checkout out as a
:class:`PooledConnection`: it behaves as the driver's connection (cursor(),
commit(), rollback(), execute() where the driver has it, every other
attribute forwarded), but its close() returns the connection to the pool,
rolled back by default, instead of closing it. A connection the server
dropped is noticed and replaced, so a database restart costs each greenthread
at most the query it was running.

Any DB-API driver works; for green concurrency it must use eventlet's green
sockets: pure-Python drivers (pg8000, PyMySQL) after
``eventlet.monkey_patch()`` (or imported with ``eventlet.import_patched``),
and sqlite3, which does no network I/O, as it is.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import sys
import threading
import warnings
from collections.abc import Hashable, Iterator
from types import ModuleType, TracebackType
from typing import Any, Callable, Optional

from eventlet_pools._backends import is_awaitable
from eventlet_pools._validate import check_callable, check_duration, check_size
from eventlet_pools._waiters import run_bridged
from eventlet_pools.errors import ConnectionClosed
from eventlet_pools.events import Listener
from eventlet_pools.lifecycle import Record
from eventlet_pools.pool import Pool
from eventlet_pools.stats import PoolStats

__all__ = [
    "AsyncPooledConnection",
    "ConnectionPool",
    "ManagedModule",
    "PooledConnection",
    "PooledCursor",
    "manage",
    "ping",
]

logger = logging.getLogger("eventlet_pools")

RESET_MODES = ("rollback", "commit", None)

# SQLSTATE classes that mean the connection is gone: 08 (connection
# exception) and 57P01-57P03 (PostgreSQL: terminated by an administrator,
# crash or shutdown, cannot connect now).
_DISCONNECT_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def close_quietly(conn: Any) -> Any:
    """Close a DB-API connection; an error is logged as one INFO line.

    For an async driver's connection it returns the coroutine that closes it.

    A connection the server already dropped often fails to close: that is
    expected (a server restart closes them all), not worth a traceback.
    """
    try:
        closing = conn.close()
    except Exception as exc:
        logger.info("closing %r raised %r; dropped anyway", conn, exc)
        return None
    if is_awaitable(closing):  # an async driver's connection
        return _aclose_quietly(conn, closing)
    return None


async def _aclose_quietly(conn: Any, closing: Any) -> None:
    try:
        await closing
    except Exception as exc:
        logger.info("closing %r raised %r; dropped anyway", conn, exc)


def _is_async_connection(conn: Any) -> bool:
    # An async driver's connection (psycopg's AsyncConnection, aiomysql's):
    # its rollback() is a coroutine function.
    return inspect.iscoroutinefunction(getattr(conn, "rollback", None))


def ping(conn: Any) -> Any:
    """Run ``SELECT 1`` on a DB-API connection; the default ``check``.

    Returns True when the server answered (for an async driver's connection,
    a coroutine that does); raises whatever the driver raises when it did
    not (the pool counts that as a failed check).
    """
    if _is_async_connection(conn):
        return _aping(conn)
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT 1")
        cursor.fetchall()
    finally:
        cursor.close()
    return True


async def _aping(conn: Any) -> bool:
    # ping() for an async driver: its cursor() may itself be awaitable
    # (aiomysql), its execute, fetch and close are.
    cursor = conn.cursor()
    if is_awaitable(cursor):
        cursor = await cursor
    try:
        await cursor.execute("SELECT 1")
        rows = cursor.fetchall()
        if is_awaitable(rows):
            await rows
    finally:
        closing = cursor.close()
        if is_awaitable(closing):
            await closing
    return True


def _driver_errors(conn: Any) -> tuple[type[BaseException], ...]:
    # The driver's OperationalError and InterfaceError: from the connection
    # (PEP 249's optional extension; exactly the classes it raises, even
    # for a driver imported twice, e.g. by eventlet.import_patched), else
    # from the driver's package, walking up from the connection's module.
    found: list[type[BaseException]] = []
    for name in ("OperationalError", "InterfaceError"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some drivers warn on the extension
            cls = getattr(conn, name, None)
        module_name = type(conn).__module__
        while not isinstance(cls, type) and module_name:
            module = sys.modules.get(module_name)
            cls = getattr(module, name, None) if module is not None else None
            module_name = module_name.rpartition(".")[0]
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def _sqlstate(exc: BaseException) -> Optional[str]:
    # pg8000 puts the server's fields in args[0] ({'C': '57P01', ...});
    # psycopg has .sqlstate, psycopg2 .pgcode.
    for attr in ("sqlstate", "pgcode"):
        code = getattr(exc, attr, None)
        if isinstance(code, str):
            return code
    if exc.args and isinstance(exc.args[0], dict):
        code = exc.args[0].get("C")
        if isinstance(code, str):
            return code
    return None


class ConnectionPool:
    """A pool of DB-API 2.0 connections for green servers.

    ``connect`` is called with no arguments to open a connection (wrap your
    driver's connect with the arguments it needs, e.g. with
    :func:`functools.partial`). :meth:`connect` checks a connection out and
    returns it as a :class:`PooledConnection`; its ``close()`` (or the end
    of a ``with`` block) gives it back. Giving back rolls back whatever the
    holder did not commit (``reset_on_return``), so the next holder starts
    clean. A connection that was idle for ``check_when_idle`` seconds or
    more is pinged (``SELECT 1``) before it is handed out again; one that
    fails the ping is closed and replaced, without the caller noticing.

    When a query fails with one of the driver's OperationalError or
    InterfaceError (or a SQLSTATE saying the connection is gone), the
    connection is suspect: when it is given back it is rolled back and
    pinged, and closed instead of kept if the server is gone. Once one
    connection turned out dead, every connection returned before that is
    checked before its next checkout, however recently it was used, since
    a server restart kills them all. So a restart costs each greenthread at
    most the query it was running; the pool refills with new connections
    as they are asked for.

    A wrapper that is garbage collected while still checked out returns its
    connection, rolled back, and logs a warning.

    Every lifecycle option of :class:`~eventlet_pools.Pool` is accepted
    (``max_overflow``, ``max_hold``, ``reclaim_after``,
    ``health_check_interval``, ``create_retry``, ``clock``...), and the
    pool's events and statistics are those of the underlying Pool
    (:attr:`pool`): its items are the raw connections.

    Args:
      connect: zero-argument callable returning a new DB-API connection.
      min_size: connections opened at construction.
      max_size: most connections open at once.
      timeout: default seconds :meth:`connect` waits for a free connection.
      max_age: seconds after which a connection is closed and replaced.
      max_idle: seconds a free connection may sit unused before it is closed
        (never going below ``min_size``).
      max_uses: checkouts after which a connection is closed and replaced.
      check: ``check(conn) -> bool`` run before handing out a connection
        that was idle; the default :func:`ping` runs ``SELECT 1``. ``None``
        turns checking off.
      check_when_idle: seconds a connection must have been idle (since it
        was returned or last checked) before ``check`` runs; 0 checks on
        every checkout.
      reset_on_return: ``'rollback'`` (default), ``'commit'`` or ``None``:
        what giving a connection back does to its open transaction.
      is_disconnect: ``is_disconnect(exc) -> bool`` deciding which driver
        errors make a connection suspect; by default the driver's
        OperationalError and InterfaceError and the SQLSTATEs of class 08
        and 57P01-57P03.
      **pool_options: further :class:`~eventlet_pools.Pool` options.

    Raises:
      TypeError: ``connect``, ``check`` or ``is_disconnect`` is not callable,
        a Pool option that the pool sets itself (``create``, ``dispose``,
        ``reset``) or an unknown option is passed.
      ValueError: a bad size, duration or ``reset_on_return``.
      Exception: whatever ``connect`` raises while opening ``min_size``
        connections.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        min_size: int = 0,
        max_size: int = 10,
        timeout: Optional[float] = 30.0,
        max_age: Optional[float] = None,
        max_idle: Optional[float] = None,
        max_uses: Optional[int] = None,
        check: Optional[Callable[[Any], Any]] = ping,
        check_when_idle: float = 3.0,
        reset_on_return: Optional[str] = "rollback",
        is_disconnect: Optional[Callable[[BaseException], bool]] = None,
        **pool_options: Any,
    ) -> None:
        if not callable(connect):
            raise TypeError(f"connect must be a zero-argument callable, got {connect!r}")
        check_callable("check", check)
        check_callable("is_disconnect", is_disconnect)
        if reset_on_return not in RESET_MODES:
            raise ValueError(f"reset_on_return must be 'rollback', 'commit' or None, got {reset_on_return!r}")
        check_duration("check_when_idle", check_when_idle)
        check_size("max_size", max_size, 1)  # 0 could never serve anybody
        for own in ("create", "dispose", "reset"):
            if own in pool_options:
                raise TypeError(
                    f"ConnectionPool sets the Pool's {own}= itself; got {own}={pool_options[own]!r}"
                    + (" (use reset_on_return=)" if own == "reset" else "")
                )
        self._connect = connect
        self._check = check
        self._check_when_idle = float(check_when_idle)
        self._is_disconnect = is_disconnect
        self._disconnect_errors: Optional[tuple[type[BaseException], ...]] = None
        # When a connection last turned out dead. A server restart or a
        # network cut kills every connection at once, so from then on even
        # recently used ones are checked before they are handed out again.
        self._dead_seen_at = -float("inf")
        self._check_now = False  # check_all() runs: ping whatever the idle time
        self._reset = {"rollback": _rollback, "commit": _commit, None: None}[reset_on_return]
        self.pool: Pool[Any] = Pool(
            min_size,
            max_size,
            create=self._open,
            dispose=self._close_connection,
            timeout=timeout,
            max_age=max_age,
            max_idle=max_idle,
            max_uses=max_uses,
            check=self._check_if_idle if check is not None else None,
            reset=self._reset_connection if self._reset is not None else None,
            **pool_options,
        )
        """The underlying :class:`~eventlet_pools.Pool` of raw connections."""
        # The pool's clock (``clock=`` or its backend's) dates checks too.
        self._clock: Callable[[], float] = self.pool._clock
        if check is not None:
            self.pool._known_good = self._used_lately

    # ------------------------------------------------------------------
    def connect(self, timeout: Optional[float] = None) -> PooledConnection:
        """Check a connection out; close() the result to give it back.

        Args:
          timeout: seconds to wait for one; ``None`` uses the pool's.

        Raises:
          PoolTimeout: none came free in time.
          PoolClosed: the pool is closed.
          Exception: whatever the driver's connect raises when a new one is
            opened.
        """
        conn = self.pool.get(True, timeout)
        try:
            return PooledConnection(self, conn)
        except BaseException:
            self.pool.put(conn)
            raise

    def connection(self, timeout: Optional[float] = None) -> PooledConnection:
        """Check a connection out for a ``with`` block; it always comes back.

        ``with pool.connection() as conn:`` gives the connection back when
        the block ends, also on exceptions. Nothing is committed for you:
        call ``conn.commit()``; what is not committed is rolled back (with
        the default ``reset_on_return``). It is :meth:`connect` (the
        connection is checked out by the call, and is its own context
        manager), so the block costs no generator.

        Raises:
          Exception: as :meth:`connect`.
        """
        return self.connect(timeout)

    async def aconnect(self, timeout: Optional[float] = None) -> AsyncPooledConnection:
        """connect() for an async driver on the asyncio backend: ``conn =
        await pool.aconnect()``, then ``await conn.close()`` to give it back.

        ``connect`` is then an async callable (``psycopg.AsyncConnection.connect``,
        ``aiomysql.connect``, with their arguments bound) or returns an
        awaitable; opening, the idle ping, the rollback on return and closing
        are awaited.

        Raises:
          PoolError: the pool's backend is not asyncio.
          Exception: as :meth:`connect`.
        """
        conn = await self.pool.aget(True, timeout)
        try:
            return AsyncPooledConnection(self, conn)
        except BaseException:
            await self.pool.aput(conn)
            raise

    def aconnection(self, timeout: Optional[float] = None) -> _AsyncCheckout:
        """``async with pool.aconnection() as conn:``: :meth:`aconnect` for a
        block, which gives the connection back when it ends (also on
        exceptions and cancellation).

        Raises:
          Exception: as :meth:`aconnect`.
        """
        return _AsyncCheckout(self, timeout)

    def close(self) -> None:
        """Close the free connections now and the checked-out ones as they
        come back; every waiter and later connect() gets PoolClosed."""
        self.pool.close()

    async def aclose(self) -> None:
        """close() for the asyncio backend: an async driver's connections
        are closed (and awaited) before it returns."""
        await self.pool.aclose()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self.pool.closed

    @property
    def backend(self) -> str:
        """The runtime it runs on (its :attr:`pool`'s backend)."""
        return self.pool.backend

    def resize(self, new_size: int) -> None:
        """Change ``max_size`` at run time (see :meth:`Pool.resize <eventlet_pools.Pool.resize>`)."""
        self.pool.resize(new_size)

    @property
    def max_size(self) -> int:
        """Most connections open at once; assigning to it resizes."""
        return self.pool.max_size

    @max_size.setter
    def max_size(self, new_size: int) -> None:
        self.pool.resize(new_size)

    def free(self) -> int:
        """How many connect() calls would succeed now without waiting."""
        return self.pool.free()

    def waiting(self) -> int:
        """How many greenthreads wait for a connection."""
        return self.pool.waiting()

    def stats(self) -> PoolStats:
        """The underlying pool's :class:`~eventlet_pools.PoolStats`."""
        return self.pool.stats()

    def pop_stats(self) -> PoolStats:
        """The underlying pool's :meth:`~eventlet_pools.Pool.pop_stats`."""
        return self.pool.pop_stats()

    @property
    def name(self) -> Optional[str]:
        """The pool's name (``name=``), or None."""
        return self.pool.name

    def check_all(self) -> int:
        """Ping every free connection now, however recently it was used,
        and replace the dead ones (for a health endpoint); returns how many
        were replaced (see :meth:`Pool.check_all <eventlet_pools.Pool.check_all>`).

        Raises:
          ValueError: the pool was made with ``check=None``.
          PoolError: on asyncio, from plain code (use :meth:`acheck_all`).
        """
        self._check_now = True
        try:
            return self.pool.check_all()
        finally:
            self._check_now = False

    def drain(self) -> int:
        """Replace every connection (see :meth:`Pool.drain <eventlet_pools.Pool.drain>`):
        free ones are closed now, those in use when they come back. With a
        ``connect`` that reads its credentials when called, this follows a
        password rotation or a failover without a restart."""
        return self.pool.drain()

    async def adrain(self) -> int:
        """:meth:`drain` for an asyncio pool."""
        return await self.pool.adrain()

    async def acheck_all(self) -> int:
        """:meth:`check_all` for an asyncio pool."""
        self._check_now = True
        try:
            return await self.pool.acheck_all()
        finally:
            self._check_now = False

    def listen(self, event: str, fn: Listener) -> None:
        """Subscribe to the underlying pool's events (items are raw connections).

        Raises:
          ValueError, TypeError: as :meth:`Pool.listen <eventlet_pools.Pool.listen>`.
        """
        self.pool.listen(event, fn)

    def unlisten(self, event: str, fn: Listener) -> None:
        """Undo :meth:`listen`.

        Raises:
          ValueError: ``fn`` is not listening to ``event``.
        """
        self.pool.unlisten(event, fn)

    def status(self) -> str:
        """One line: sizes, counters and waits of the underlying pool."""
        return self.pool.status()

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ConnectionPool of {self._connect!r}: {self.pool!r}>"

    # ------------------------------------------------------------------
    # what the wrappers and the underlying pool call
    def _open(self) -> Any:
        conn = self._connect()
        if is_awaitable(conn):  # an async driver's connect (asyncio)
            return self._aopened(conn)
        return self._opened(conn)

    async def _aopened(self, connecting: Any) -> Any:
        return self._opened(await connecting)

    def _opened(self, conn: Any) -> Any:
        if conn is None:
            raise TypeError(f"connect() returned None, not a connection ({self._connect!r})")
        if self._disconnect_errors is None:
            self._disconnect_errors = _driver_errors(conn)
        return conn

    def _close_connection(self, conn: Any) -> Any:
        return close_quietly(conn)

    def _used_lately(self, conn: Any, rec: Record) -> bool:
        # The pool's record of the connection says when it was last known
        # good: returned, or checked (the pool notes a passed check). Asked
        # by the pool before check() on checkout, so a connection used
        # moments ago costs no ping and no timer.
        return (
            not self._check_now  # (check_all(): every one, now)
            and rec.checked > self._dead_seen_at
            and self._clock() - rec.checked < self._check_when_idle
        )

    def _check_if_idle(self, conn: Any) -> Any:
        # The pool's check: a ping unless the connection was used lately
        # (maintenance and check_all() call it directly). With a check set
        # the pool keeps records, so there is one.
        rec = self.pool._record_of(conn)
        if rec is not None and self._used_lately(conn, rec):
            return True
        assert self._check is not None
        return self._watching(self._check, conn)

    def _reset_connection(self, conn: Any) -> Any:
        assert self._reset is not None
        return self._watching(self._reset, conn)

    def _watching(self, hook: Callable[[Any], Any], conn: Any) -> Any:
        # A check or reset that fails means a dead connection (the pool
        # disposes it): the others are suspect too. An async driver's hook
        # returns a coroutine, which the pool awaits: watched the same way.
        try:
            result = hook(conn)
        except Exception:
            self._dead_seen_at = self._clock()
            raise
        if is_awaitable(result):
            return self._awatching(result)
        return result

    async def _awatching(self, pending: Any) -> Any:
        try:
            return await pending
        except Exception:
            self._dead_seen_at = self._clock()
            raise

    def _suspects(self, exc: BaseException) -> bool:
        # Does this error from the driver mean the connection may be dead?
        if self._is_disconnect is not None:
            return bool(self._is_disconnect(exc))
        if self._disconnect_errors and isinstance(exc, self._disconnect_errors):
            return True
        code = _sqlstate(exc)
        return code is not None and code.startswith(_DISCONNECT_SQLSTATES)

    def _give_back(self, conn: Any, suspect: bool) -> None:
        # A suspect connection goes back only if, rolled back, it still
        # answers; otherwise it is closed and its slot freed.
        if suspect:
            # Rolled back, then checked with the pool's own check (none with
            # check=None: a rollback that works is then proof enough).
            hook = self.pool._backend.call_hook  # (awaits an async driver's calls)
            try:
                hook(_rollback, conn)
                if self._check is not None and not hook(self._check, conn):
                    raise ConnectionError(f"check {self._check!r} failed")
            except Exception as exc:
                logger.info("dropping a connection the server no longer answers on: %r", exc)
                self._dead_seen_at = self._clock()
                self.pool.discard(conn)
                return
            except BaseException:
                self.pool.discard(conn)  # interrupted mid-check: its state is unknown
                raise
        self.pool.put(conn)

    def _return_lost(self, conn: Any, suspect: bool) -> None:
        # A wrapper was garbage collected while checked out: roll back what
        # its holder left behind (whatever reset_on_return says), then give
        # the connection back.
        logger.warning(
            "a connection checked out of %r was garbage collected without close(); returning it, rolled back",
            self,
        )
        try:
            self.pool._backend.call_hook(_rollback, conn)
        except Exception as exc:
            logger.info("rolling back a lost connection failed (%r); closing it", exc)
            self.pool.discard(conn)
            return
        except BaseException:
            self.pool.discard(conn)
            raise
        self._give_back(conn, suspect)


def _rollback(conn: Any) -> Any:
    return conn.rollback()  # (a coroutine for an async driver)


def _commit(conn: Any) -> Any:
    return conn.commit()


class PooledConnection:
    """A checked-out connection that returns to its pool on close().

    It behaves as the driver's connection: cursor() (wrapped, see
    :class:`PooledCursor`), commit(), rollback(), and every other attribute
    or method is the driver's own (execute() too, where the driver has it).
    Driver errors that mean the connection is gone make it suspect (see
    :class:`ConnectionPool`).

    ``close()`` gives the connection back (calling it again does nothing);
    ``invalidate()`` closes it for good and frees its slot. After either,
    any other use raises :class:`~eventlet_pools.ConnectionClosed`. As a
    context manager it gives the connection back when the block ends.
    """

    __slots__ = ("__weakref__", "_conn", "_owner", "_suspect")

    _conn: Any  # _CLOSED once given back
    _owner: ConnectionPool
    _suspect: bool

    def __init__(self, owner: ConnectionPool, conn: Any) -> None:
        _set_owner(self, owner)
        _set_conn(self, conn)
        _set_suspect(self, False)

    def __del__(self) -> None:
        # Collected while still checked out: its holder forgot close(). The
        # rollback (network I/O) runs in a greenthread of its own, never
        # inside the collector. (__del__ rather than weakref.finalize: that
        # costs about 2 us per checkout, more than the rest of it.)
        try:
            conn = _get_conn(self)
        except AttributeError:  # __init__ never ran
            return
        if conn is _CLOSED:
            return
        _set_conn(self, _CLOSED)
        with contextlib.suppress(Exception):  # the interpreter is shutting down
            self._owner.pool._spawn(self._owner._return_lost, conn, self._suspect)

    @property
    def connection(self) -> Any:
        """The driver's own connection (do not close it yourself).

        Raises:
          ConnectionClosed: this wrapper was closed or invalidated.
        """
        return self._live()

    @property
    def closed(self) -> bool:
        """True once close() or invalidate() was called."""
        return self._conn is _CLOSED

    def cursor(self, *args: Any, **kwargs: Any) -> PooledCursor:
        """A new cursor of the driver's, whose errors are watched for disconnects."""
        return PooledCursor(self, self._call(self._live().cursor, args, kwargs))

    def commit(self) -> Any:
        """Commit the current transaction (an async driver's: ``await conn.commit()``)."""
        return self._call(self._live().commit, (), {})

    def rollback(self) -> Any:
        """Roll back the current transaction (an async driver's: ``await conn.rollback()``)."""
        return self._call(self._live().rollback, (), {})

    def close(self) -> None:
        """Give the connection back to the pool; idempotent."""
        conn = self._conn
        if conn is _CLOSED:
            return
        _set_conn(self, _CLOSED)
        self._owner._give_back(conn, self._suspect)

    def invalidate(self) -> None:
        """Close the connection for good (it is broken); its slot is freed.

        Raises:
          ConnectionClosed: this wrapper was already closed or invalidated.
        """
        conn = self._live()
        _set_conn(self, _CLOSED)
        self._owner.pool.discard(conn)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._live(), name)
        if not callable(value):
            return value
        return _forward(name, value, self._live, self._call)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._live(), name, value)

    def __enter__(self) -> PooledConnection:
        self._live()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        conn = self._conn
        state = "closed" if conn is _CLOSED else repr(conn)
        return f"<PooledConnection {state} of {self._owner!r}>"

    # ------------------------------------------------------------------
    def _live(self) -> Any:
        conn = self._conn
        if conn is _CLOSED:
            raise ConnectionClosed(
                "this pooled connection was closed (returned to its pool) or invalidated; "
                "check out another with pool.connect()"
            )
        return conn

    def _call(self, method: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            self._noticed(exc)
            raise

    def _noticed(self, exc: Exception) -> None:
        # A driver error: does it make the connection suspect?
        if not self._suspect and self._owner._suspects(exc):
            _set_suspect(self, True)


class AsyncPooledConnection(PooledConnection):
    """A checked-out connection of an async driver (see
    :meth:`ConnectionPool.aconnect`): ``await conn.close()`` gives it back.

    It behaves as the driver's connection: ``await conn.execute(...)``,
    ``await conn.commit()``, ``conn.cursor()`` and every other attribute are
    the driver's own, with their errors watched for disconnects as for
    :class:`PooledConnection`. ``async with`` gives it back when the block
    ends. ``invalidate()`` is synchronous: an async driver's close then runs
    in a task that the pool's ``aclose()`` waits for.
    """

    __slots__ = ()

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        """The driver's cursor, watched for disconnects: as the driver has
        it, ``conn.cursor()`` (psycopg) or ``await conn.cursor()`` (aiomysql);
        ``async with conn.cursor() as cur`` closes it either way."""
        try:
            raw = self._live().cursor(*args, **kwargs)
        except Exception as exc:
            self._noticed(exc)
            raise
        if is_awaitable(raw):
            return _CursorOpening(self, raw)
        return PooledCursor(self, raw)

    async def close(self) -> None:  # type: ignore[override]
        """Give the connection back to the pool; idempotent."""
        conn = self._conn
        if conn is _CLOSED:
            return
        _set_conn(self, _CLOSED)
        await run_bridged(self._owner._give_back, conn, self._suspect)

    def __enter__(self) -> PooledConnection:
        raise TypeError("an async driver's pooled connection is used with async with")

    async def __aenter__(self) -> AsyncPooledConnection:
        self._live()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    def _call(self, method: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        try:
            result = method(*args, **kwargs)
        except Exception as exc:
            self._noticed(exc)
            raise
        if is_awaitable(result):
            return self._watched(result)
        return result

    async def _watched(self, pending: Any) -> Any:
        # The driver's errors surface when its coroutine is awaited.
        try:
            return await pending
        except Exception as exc:
            self._noticed(exc)
            raise


class _AsyncCheckout:
    # What aconnection() returns: aconnect() on entering, close() on leaving.

    __slots__ = ("_conn", "_owner", "_timeout")

    def __init__(self, owner: ConnectionPool, timeout: Optional[float]) -> None:
        self._owner = owner
        self._timeout = timeout
        self._conn: Optional[AsyncPooledConnection] = None

    async def __aenter__(self) -> AsyncPooledConnection:
        self._conn = await self._owner.aconnect(self._timeout)
        return self._conn

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


def _forward(
    name: str,
    method: Callable[..., Any],
    live: Callable[[], Any],
    watched: Callable[[Callable[..., Any], Any, Any], Any],
) -> Callable[..., Any]:
    # A driver method as a pooled connection or cursor hands it out: it
    # refuses to run once the connection was given back (checked again at
    # call time: it may have been looked up before close()), and its errors
    # are watched for disconnects. Only the name and __wrapped__ are copied:
    # functools.wraps costs more than the rest of the pool's work per checkout.
    def call(*args: Any, **kwargs: Any) -> Any:
        live()
        return watched(method, args, kwargs)

    call.__name__ = name
    call.__wrapped__ = method  # type: ignore[attr-defined]
    return call


# The wrapper forwards attribute writes to the connection; its own slots
# are written through their descriptors.
_CLOSED: Any = object()
_slot: dict[str, Any] = dict(PooledConnection.__dict__)
_set_owner = _slot["_owner"].__set__
_set_conn = _slot["_conn"].__set__
_get_conn = _slot["_conn"].__get__
_set_suspect = _slot["_suspect"].__set__
del _slot


class PooledCursor:
    """A driver cursor whose errors are watched for disconnects.

    Every attribute and method is the driver cursor's own; iterating it
    iterates the cursor; as a context manager it closes the cursor. Once
    its connection was given back, any use raises
    :class:`~eventlet_pools.ConnectionClosed`.
    """

    __slots__ = ("_conn", "_raw")

    _conn: PooledConnection
    _raw: Any

    def __init__(self, conn: PooledConnection, raw: Any) -> None:
        object.__setattr__(self, "_conn", conn)
        object.__setattr__(self, "_raw", raw)

    @property
    def raw(self) -> Any:
        """The driver's own cursor."""
        self._conn._live()
        return self._raw

    def __getattr__(self, name: str) -> Any:
        self._conn._live()
        value = getattr(self._raw, name)
        if not callable(value):
            return value
        return _forward(name, value, self._conn._live, self._conn._call)

    def __setattr__(self, name: str, value: Any) -> None:
        self._conn._live()
        setattr(self._raw, name, value)

    def __iter__(self) -> Iterator[Any]:
        conn = self._conn
        rows = iter(self._raw)
        while True:
            conn._live()
            try:
                row = next(rows)
            except StopIteration:  # the end of the rows, not an error
                return
            except Exception as exc:
                conn._noticed(exc)
                raise
            yield row

    def __enter__(self) -> PooledCursor:
        self._conn._live()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if not self._conn.closed:
            self._raw.close()

    async def __aenter__(self) -> PooledCursor:
        self._conn._live()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        # An async driver's cursor (of an AsyncPooledConnection): its close
        # may be a coroutine.
        if not self._conn.closed:
            closing = self._raw.close()
            if is_awaitable(closing):
                await closing

    def __repr__(self) -> str:
        return f"<PooledCursor {self._raw!r}>"


class _CursorOpening:
    # AsyncPooledConnection.cursor() for a driver whose cursor() must be
    # awaited (aiomysql): ``await conn.cursor()`` or ``async with
    # conn.cursor() as cur``, either way a PooledCursor.

    __slots__ = ("_conn", "_cursor", "_opening")

    def __init__(self, conn: AsyncPooledConnection, opening: Any) -> None:
        self._conn = conn
        self._opening = opening
        self._cursor: Optional[PooledCursor] = None

    def __await__(self) -> Any:
        return self._open().__await__()

    async def _open(self) -> PooledCursor:
        return PooledCursor(self._conn, await self._conn._watched(self._opening))

    async def __aenter__(self) -> PooledCursor:
        self._cursor = await self._open()
        return self._cursor

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._cursor is not None:
            await self._cursor.__aexit__(exc_type, exc, tb)


class ManagedModule:
    """A DB-API module whose connect() draws from pools: see :func:`manage`."""

    def __init__(self, module: ModuleType, **pool_options: Any) -> None:
        if not callable(getattr(module, "connect", None)):
            raise TypeError(f"manage() needs a DB-API module with a connect() function, got {module!r}")
        # Bad options fail now, not at the first connect().
        ConnectionPool(_no_connect, **{**pool_options, "min_size": 0}).close()
        self.module = module
        self._options = pool_options
        self._pools: dict[Hashable, ConnectionPool] = {}
        self._lock = threading.Lock()

    def connect(self, *args: Any, **kwargs: Any) -> PooledConnection:
        """Check a connection out of the pool for these connect() arguments.

        Raises:
          TypeError: an argument is unhashable, so no pool can be keyed by it.
          Exception: as :meth:`ConnectionPool.connect`.
        """
        return self.get_pool(*args, **kwargs).connect()

    def get_pool(self, *args: Any, **kwargs: Any) -> ConnectionPool:
        """The pool for these connect() arguments, made on first use.

        Raises:
          TypeError: an argument is unhashable.
        """
        key = (args, tuple(sorted(kwargs.items())))
        try:
            hash(key)
        except TypeError:
            raise TypeError(
                f"manage(): connect() arguments must be hashable to choose a pool, got {args!r}, {kwargs!r}"
            ) from None
        with self._lock:
            pool = self._pools.get(key)
        if pool is not None:
            return pool
        # Made outside the lock: opening min_size connections switches
        # greenthreads, and a plain lock held across a switch would block
        # the whole hub. Two racing callers may both make one; one wins.
        made = ConnectionPool(functools.partial(self.module.connect, *args, **kwargs), **self._options)
        with self._lock:
            pool = self._pools.setdefault(key, made)
        if pool is not made:
            made.close()
        return pool

    @property
    def pools(self) -> dict[Hashable, ConnectionPool]:
        """A copy of the pools made so far, by their connect() arguments."""
        with self._lock:
            return dict(self._pools)

    def dispose(self) -> None:
        """Close every pool; later connect() calls make new ones."""
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.close()

    def __getattr__(self, name: str) -> Any:
        # paramstyle, Error, Binary... come from the driver itself. (Our own
        # attributes reach here only before __init__ set them.)
        if name in ("module", "_options", "_pools", "_lock"):
            raise AttributeError(name)
        return getattr(self.module, name)

    def __repr__(self) -> str:
        return f"<ManagedModule {self.module.__name__}: {len(self._pools)} pool(s)>"


def _no_connect() -> Any:
    raise AssertionError("only used to validate options")  # pragma: no cover


def manage(module: ModuleType | str, **pool_options: Any) -> ManagedModule:
    """Pool a whole DB-API module: ``connect(*args, **kwargs)`` draws from one
    :class:`ConnectionPool` per distinct set of arguments.

    Everything else (``paramstyle``, the exception classes...) is the
    module's own, so ``db = manage(pg8000)`` can replace the import in code
    that calls ``db.connect(...)``. Pools are made on first use and safely
    from any thread or greenthread; :meth:`ManagedModule.dispose` closes
    them all.

    Args:
      module: the DB-API module, or its import name.
      **pool_options: arguments for each :class:`ConnectionPool`.

    Raises:
      TypeError, ValueError: as for :class:`ConnectionPool`, or ``module``
        has no connect().
    """
    if isinstance(module, str):
        module = importlib.import_module(module)
    return ManagedModule(module, **pool_options)
