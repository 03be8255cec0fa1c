"""RedisTokenPool: the TokenPool contract with its slots held in Redis."""

from __future__ import annotations

import hashlib
import inspect
import itertools
import logging
import os
import sys
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Optional

from eventlet_pools._backends import BACKENDS, Backend, backend_for
from eventlet_pools._validate import check_duration, check_seconds, check_size
from eventlet_pools._waiters import EXPIRED, await_only, in_bridge, run_bridged
from eventlet_pools.errors import BackendError, LeaseLost, PoolClosed, PoolError, PoolTimeout
from eventlet_pools.redis import _scripts
from eventlet_pools.token import Token

__all__ = ["RedisToken", "RedisTokenPool"]

logger = logging.getLogger("eventlet_pools")

# Shortest XREAD wait: Redis reads a block of 0 as "for ever".
_MIN_BLOCK = 0.01

# Grants read from the stream per round trip.
_READ_COUNT = 100

# Clients whose Redis has our scripts loaded already.
_LOADED: weakref.WeakSet[Any] = weakref.WeakSet()


def check_key(key: object) -> str:
    """Validate a pool key: a non-empty str without braces or '|'.

    Raises:
      TypeError: not a str.
      ValueError: empty, or containing ``{``, ``}`` (they would break the
        keys' hash tag) or ``|`` (the queue's separator).
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {key!r}")
    if not key:
        raise ValueError("key must not be empty")
    for bad in "{}|":
        if bad in key:
            raise ValueError(f"key must not contain {bad!r}, got {key!r}")
    return key


def is_redis_error(exc: BaseException) -> bool:
    """True for redis-py's errors (``redis.RedisError`` and subclasses).

    Matched by name along the class's MRO rather than with ``isinstance``:
    ``eventlet.import_patched("redis")`` makes a second copy of redis-py,
    whose exception classes are not those of ``import redis``.
    """
    return any(
        cls.__name__ == "RedisError" and cls.__module__.startswith("redis") for cls in type(exc).__mro__
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisToken(Token):
    """A slot of a :class:`RedisTokenPool`: a lease with a unique id.

    ``fence`` and ``valid_until`` are for work whose safety must not rest on
    the lease alone: a holder whose own process stalls for longer than the
    lease (a GC pause, a frozen VM) may still believe it holds the slot
    after another process was granted it. Pass ``fence`` along with every
    write to the store the pool guards, and have the store refuse a write
    whose fence is lower than the highest it has seen; or stop before
    ``valid_until``.
    """

    __slots__ = ("__weakref__", "_lined", "_since", "epoch", "fence", "id", "pool", "valid_until")

    def __init__(
        self,
        token_id: str,
        pool: RedisTokenPool,
        epoch: str,
        fence: int,
        valid_until: float,
        lined: bool = False,
    ) -> None:
        #: The lease's unique id, as Redis knows it.
        self.id = token_id
        #: The pool it came from.
        self.pool = pool
        #: The pool state it was granted in: if Redis has lost that state
        #: since, the lease may re-register (see RedisTokenPool).
        self.epoch = epoch
        #: Fencing number: larger for every later grant of this pool key, in
        #: every process (across a Redis data loss too).
        self.fence = fence
        #: ``time.monotonic()`` until which the lease is certainly held, as of
        #: its grant or its last successful renewal (each renewal moves it on).
        self.valid_until = valid_until
        # Granted to a waiter: Redis keeps its fence until it is released.
        self._lined = lined
        # time.monotonic() when it was granted (for use-time metrics).
        self._since = 0.0

    def __repr__(self) -> str:
        return f"<RedisToken {self.id} of {self.pool.key!r}>"


class RedisTokenPool:
    """At most ``max_size`` holders at once, across every process and machine.

    The same contract as :class:`~eventlet_pools.TokenPool` (``get``,
    ``put``, ``item``, ``free``, ``waiting``, ``resize``, ``close``), but the
    slots live in Redis under ``key``, so every process that makes a
    RedisTokenPool with the same key and Redis shares them. Acquiring and
    releasing are one Lua script each: one round trip, atomic, so no process
    is ever admitted beyond ``max_size``.

    Each slot is a lease that expires ``lease`` seconds after it was last
    renewed. A background greenthread renews the leases this process holds
    (every ``lease / 3`` seconds) for as long as their tokens are referenced;
    if the process dies, its slots come back by themselves within ``lease``.
    A token that is garbage collected without put() is released.

    Callers that find the pool full wait in one FIFO line across all
    processes. A freed slot is handed straight to the first live waiter and
    its process is notified through a Redis stream of grants it blocks on
    (XREAD): no polling. Waiters of a process that died are skipped. A timed-out or
    killed waiter leaves the line; if it had just been granted a slot, the
    slot passes on.

    A server that stood still (SIGSTOP, a long fork) gives every lease the
    time it lost before expiring any: only time the server ran without a
    renewal counts against a lease. Each token carries a fencing number and
    how long its lease is certainly valid (see :class:`RedisToken`), for
    the one case no lease can rule out: a holder stalled past its lease.

    If Redis loses its data (a restart without persistence), no new slot is
    granted for one lease period, while the holders still running
    re-register their leases; then the pool goes on. The size lives in
    Redis: the last constructor or :meth:`resize` sets it for every process.

    It runs on the runtime of its client (``backend``):

    - eventlet: a green ``redis.Redis`` (after ``eventlet.monkey_patch()``,
      or from ``eventlet.import_patched("redis")``); the service runs in a
      greenthread.
    - gevent: a ``redis.Redis`` after ``gevent.monkey.patch_all()``; the
      service runs in a greenlet.
    - threads: a plain ``redis.Redis``, used from any OS thread; the
      service runs in a daemon thread.
    - asyncio: a ``redis.asyncio.Redis``, used through the ``a``-methods
      (``await pool.aget()``, ``async with pool.aitem()``, ...) from tasks
      of one event loop; the service runs in a task. The constructor does
      not touch Redis: the pool is set up by its first call.

    The service blocks in XREAD for up to ``lease / 3``, or half the
    client's ``socket_timeout`` if that is shorter.

    Args:
      client: the redis-py client.
      key: names the pool in Redis; every process using it must agree on
        ``max_size`` and ``lease``.
      max_size: most slots held at once (>= 1).
      lease: seconds a slot stays held without renewal.
      timeout: default seconds get() waits; ``None`` waits for ever.
      prefix: namespace of the Redis keys (``prefix:{key}:...``); no
        braces, no ``|``.
      backend: ``'auto'`` (asyncio for a ``redis.asyncio`` client; else
        eventlet if the program imported it, else gevent if it did, else
        threads), or one of ``'eventlet'``, ``'gevent'``, ``'threads'``,
        ``'asyncio'``.

    Raises:
      TypeError, ValueError: a bad key, size, lease, timeout, prefix or
        backend, or a client of another runtime than ``backend``.
      BackendError: Redis could not be reached to set the pool up.
    """

    def __init__(
        self,
        client: Any,
        key: str,
        max_size: int,
        *,
        lease: float = 30.0,
        timeout: Optional[float] = None,
        prefix: str = "eventlet_pools",
        backend: str = "auto",
    ) -> None:
        if not callable(getattr(client, "register_script", None)):
            raise TypeError(f"client must be a redis.Redis, got {client!r}")
        self._backend: Backend = _backend_for_client(backend, client)
        self._async = self._backend.is_async
        self._guard = self._backend.guard
        self.key = check_key(key)
        _check_max_size(max_size)
        check_duration("lease", lease)
        if not lease >= 0.05:
            raise ValueError(f"lease must be at least 0.05 s, got {lease!r}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {prefix!r}")
        if not prefix or any(bad in prefix for bad in "{}|"):
            # Braces would break the keys' hash tag; '|' separates the fields
            # of the line's entries.
            raise ValueError(f"prefix must be a non-empty str without '{{', '}}' or '|', got {prefix!r}")
        self._timeout = check_seconds("timeout", timeout)
        self._client = client
        self._max_size = max_size
        self._lease_ms = int(lease * 1000)
        self._lease = self._lease_ms / 1000
        self._interval = lease / 3
        # XREAD must return before the client's socket timeout would cut it.
        socket_timeout = _socket_timeout(client)
        self._block_cap = None if socket_timeout is None else max(_MIN_BLOCK, socket_timeout * 0.5)
        base = f"{prefix}:{{{key}}}"
        self._keys = [
            f"{base}:holders",
            f"{base}:queue",
            f"{base}:waiting",
            f"{base}:state",
            f"{base}:fences",
            f"{base}:grants",
        ]
        # Where this process reads the grants stream from: set by the first
        # get() that waits (to the newest grant before it queued), then
        # moved on by what the service greenthread reads.
        self._stream_id: Optional[str] = None
        self._seen: Any = b""  # the state epoch last seen (as Redis sent it); none yet
        self._closed = False
        # Leases this process holds: token id -> weak reference to the token.
        self._held: dict[str, weakref.ref[RedisToken]] = {}
        # Callers of this process waiting in line: token id -> (their
        # one-waiter queue, their entry in the Redis queue).
        self._local: dict[str, tuple[Any, str]] = {}
        # What eventlet_pools.otel watches: objects with _checked_out(waited)
        # and _checked_in(held), and the gets that timed out so far.
        self._observers: tuple[Any, ...] = ()
        self._timeouts = 0
        self._service: Any = None  # the service, while it runs
        # asyncio: the tasks of _spawn, kept until done (the loop itself
        # holds tasks only weakly).
        self._tasks: set[Any] = set()
        self._blocking = False  # the service is in XREAD
        self._alarm: Any = None
        # Each script: its source and SHA1, for EVALSHA.
        self._scripts = {
            name: (source, hashlib.sha1(source.encode()).hexdigest())
            for name in _scripts.__all__
            for source in (getattr(_scripts, name),)
        }
        # The arguments every call passes, encoded once: the keys, then the
        # lease and the size (see _scripts).
        self._keys_sent = [k.encode() for k in self._keys]
        self._lease_sent = str(self._lease_ms).encode()
        self._ready = False  # scripts loaded and size set (_set_up)
        # Token ids: 128 random bits per pool object, then a count (unique
        # everywhere without a random read per get()).
        self._id_prefix = os.urandom(16).hex() + "-"
        self._id_counter = itertools.count()
        if not self._async:
            self._set_up()

    # ------------------------------------------------------------------
    def get(self, block: bool = True, timeout: Optional[float] = None) -> RedisToken:
        """Take a slot, waiting in the shared FIFO line if the pool is full.

        Args:
          block: with False, never wait: raise PoolTimeout at once.
          timeout: seconds to wait; ``None`` uses the pool's ``timeout``.

        Raises:
          PoolTimeout: no slot in time (or at once, with block=False).
          PoolClosed: this pool object was closed.
          BackendError: Redis failed; no slot is held.
        """
        if self._async and not in_bridge():
            raise _use_async("get")
        if self._closed:
            raise PoolClosed(f"get() from {self!r}")
        wait = self._timeout if timeout is None else check_seconds("timeout", timeout)
        queue_up = block and wait != 0
        token_id = f"{self._id_prefix}{next(self._id_counter)}"
        entry = f"{token_id}|{self._lease_ms}"
        sent = time.monotonic()  # before the server's clock read: a lower bound
        try:
            reply = self._call("ACQUIRE", token_id, "1" if queue_up else "")
        except BackendError:
            raise
        except BaseException:
            # Interrupted (a Timeout, a kill, a cancellation) while the
            # script ran: Redis may have granted us a slot or put us in
            # line. Undo both now rather than leave them to expire.
            if queue_up:
                self._undo(self._leave_line, token_id, entry)
            else:
                self._undo(self._release_quietly, token_id)
            raise
        status = int(reply[0])
        if status == 1:
            return self._hold(token_id, int(reply[1]), sent + self._lease, sent)
        _status, _fence, server_ms, since, _epoch = reply
        if status == -1:
            self._timeouts += 1
            raise PoolTimeout(f"pool {self.key!r} is full (max_size {self._max_size})")
        # Our grant comes after ``since`` on the stream: read from there on
        # (or from where the service is, if that is earlier).
        since = _text(since)
        waiter = self._backend.waiter_queue()
        with self._guard:  # (threads: parking lets go of it)
            if self.closed:  # (read again: other code ran since the check above)
                # Closed while our ACQUIRE was under way: close() failed the
                # waiters it knew of, and we were not one yet.
                self._undo(self._leave_line, token_id, entry)
                raise PoolClosed(f"{self!r} was closed while waiting")
            if self._stream_id is None or _stream_order(since) < _stream_order(self._stream_id):
                self._stream_id = since
            self._local[token_id] = (waiter, entry)
            self._start_service()
            try:
                granted = waiter.park(wait, self._pass_on)
            except BaseException:
                # Killed, cancelled, or the pool closed, before any grant
                # reached us.
                if self._local.pop(token_id, None) is not None:
                    self._undo(self._leave_line, token_id, entry)
                raise
        if granted is EXPIRED:
            with self._guard:
                self._local.pop(token_id, None)
            try:
                kept = self._leave_line(token_id, entry, keep_grant=True, began=sent)
            except BackendError:
                raise
            except BaseException:
                self._spawn(self._leave_line, token_id, entry)  # (and let a grant go)
                raise
            if kept is not None:
                return kept  # granted just before we gave up
            self._timeouts += 1
            raise PoolTimeout(f"waited {wait} s for a slot of pool {self.key!r}")
        # The grant's message says when (server clock) it was made, which is
        # after our ACQUIRE read the clock: the lease runs from at least
        # ``sent`` plus that difference, in this process's time.
        _token, fence, granted_ms = str(granted).split("|")
        valid_until = sent + (int(granted_ms) - int(server_ms)) / 1000 + self._lease
        return self._hold(token_id, int(fence), valid_until, sent, lined=True)

    def put(self, token: RedisToken) -> None:
        """Release a slot; the first waiter (in any process) gets it.

        Raises:
          LeaseLost: the lease expired and Redis reclaimed the slot (a lease
            that ran out but was not reclaimed yet is released as usual:
            nobody can have been admitted in its place), it was already put
            back, or ``token`` is not from this pool. Nothing changes.
          BackendError: Redis failed; the slot comes back when its lease
            expires.
        """
        if self._async and not in_bridge():
            raise _use_async("put")
        if not isinstance(token, RedisToken) or token.pool is not self:
            raise LeaseLost(f"{token!r} is not a lease of {self!r}")
        if self._held.pop(token.id, None) is None:
            raise LeaseLost(f"{token!r} was already put back or its lease was lost")
        if self._observers and token._since:
            held = time.monotonic() - token._since
            for observer in self._observers:
                observer._checked_in(held)
        try:
            released = self._call("RELEASE", token.id, "1" if token._lined else "")
        except BackendError:
            raise
        except BaseException:
            # Interrupted: Redis may not have run it. Make sure it does (a
            # second release of a slot released already changes nothing).
            self._spawn(self._release_quietly, token.id)
            raise
        if int(released[0]) != 1:
            raise LeaseLost(f"the lease of {token!r} expired and was reclaimed before put()")

    @contextmanager
    def item(self, timeout: Optional[float] = None) -> Iterator[RedisToken]:
        """Hold a slot for a ``with`` block; it is released when the block ends.

        Raises:
          LeaseLost: at the end of a block that raised nothing, if the
            lease was lost meanwhile.
          Exception: as :meth:`get`.
        """
        token = self.get(True, timeout)
        try:
            yield token
        except BaseException:
            try:
                self.put(token)
            except PoolError as exc:  # the block's own exception matters more
                logger.warning("releasing %r after an exception: %r", token, exc)
            raise
        self.put(token)

    async def aget(self, block: bool = True, timeout: Optional[float] = None) -> RedisToken:
        """:meth:`get` for an asyncio pool. A task cancelled while it waits
        leaves the line; a slot granted to it meanwhile passes on."""
        return await self._bridged("aget", self.get, block, timeout)  # type: ignore[no-any-return]

    async def aput(self, token: RedisToken) -> None:
        """:meth:`put` for an asyncio pool."""
        await self._bridged("aput", self.put, token)

    @asynccontextmanager
    async def aitem(self, timeout: Optional[float] = None) -> AsyncIterator[RedisToken]:
        """:meth:`item` for an asyncio pool: ``async with pool.aitem() as token``."""
        token = await self.aget(True, timeout)
        try:
            yield token
        except BaseException:
            try:
                await self.aput(token)
            except PoolError as exc:  # the block's own exception matters more
                logger.warning("releasing %r after an exception: %r", token, exc)
            raise
        await self.aput(token)

    async def afree(self) -> int:
        """:meth:`free` for an asyncio pool."""
        return await self._bridged("afree", self.free)  # type: ignore[no-any-return]

    async def awaiting(self) -> int:
        """:meth:`waiting` for an asyncio pool."""
        return await self._bridged("awaiting", self.waiting)  # type: ignore[no-any-return]

    async def asize(self) -> int:
        """:meth:`size` for an asyncio pool."""
        return await self._bridged("asize", self.size)  # type: ignore[no-any-return]

    async def aresize(self, new_size: int) -> None:
        """:meth:`resize` for an asyncio pool."""
        await self._bridged("aresize", self.resize, new_size)

    async def aclose(self) -> None:
        """:meth:`close` for an asyncio pool (it also wakes the service at
        once), waiting for the releases still under way in tasks."""
        await self._bridged("aclose", self.close)
        while self._tasks:
            await next(iter(self._tasks))

    async def __aenter__(self) -> RedisTokenPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def free(self) -> int:
        """Slots free right now across all processes (0 while any wait, or
        while the pool recovers from a Redis data loss).

        Raises:
          BackendError: Redis failed.
        """
        held, waiting, max_size, recovering = self._status()
        return 0 if waiting or recovering else max(0, max_size - held)

    def waiting(self) -> int:
        """Waiters alive in the shared line, across all processes.

        Raises:
          BackendError: Redis failed.
        """
        return self._status()[1]

    def size(self) -> int:
        """Slots held right now, across all processes.

        Raises:
          BackendError: Redis failed.
        """
        return self._status()[0]

    def resize(self, new_size: int) -> None:
        """Change ``max_size`` for every process; growing wakes waiters at once.

        Raises:
          TypeError, ValueError: ``new_size`` is not an int >= 1.
          BackendError: Redis failed.
        """
        if self._async and not in_bridge():
            raise _use_async("resize")
        _check_max_size(new_size)
        self._max_size = new_size
        if self._ready:
            self._call("RESIZE", new_size)
        else:  # (asyncio: it is set up, at the new size, by its first call)
            self._set_up()

    @property
    def max_size(self) -> int:
        """The size this process last set or was built with."""
        return self._max_size

    @property
    def timeout(self) -> Optional[float]:
        """Default seconds get() waits."""
        return self._timeout

    @property
    def backend(self) -> str:
        """The runtime this pool runs on: ``'eventlet'``, ``'threads'`` or ``'asyncio'``."""
        return self._backend.name

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Stop this pool object: its waiters get PoolClosed and leave the
        line, later get() calls raise PoolClosed. Slots it holds are still
        released by put() (or expire). Other processes are not affected.
        (On asyncio it may be called from plain code too.)"""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            for waiter, _entry in list(self._local.values()):
                # Each leaves the Redis line itself as it wakes.
                waiter.fail_all(lambda: PoolClosed(f"{self!r} was closed while waiting"))
            if self._alarm is not None:
                self._alarm.wake()
            blocking = self._blocking
        if blocking:
            # The service sits in XREAD: an entry unblocks it (every reader
            # skips it: it names no token). Plain code on asyncio leaves
            # that to a task.
            if self._async and not in_bridge():
                self._spawn(self._wake_service)
            else:
                self._wake_service()

    def _wake_service(self) -> None:
        try:
            self._io(self._client.xadd(self._keys[5], {"g": ""}, maxlen=1000, approximate=True))
        except Exception as exc:
            logger.info("could not wake the service of %r: %r", self, exc)

    def __enter__(self) -> RedisTokenPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<RedisTokenPool {self.key!r} {state} max_size={self._max_size} held here={len(self._held)}>"

    # ------------------------------------------------------------------
    def _io(self, result: Any) -> Any:
        # What a client call returned: awaited (from the bridge greenlet) on asyncio.
        return await_only(result) if self._async else result

    async def _bridged(self, name: str, method: Any, *args: Any) -> Any:
        if not self._async:
            raise PoolError(f"{name}() is for a pool on asyncio; this one runs on {self.backend!r}")
        return await run_bridged(method, *args)

    def _set_up(self) -> None:
        # Load the scripts (once per client, so that every call is one
        # EVALSHA; after a Redis restart _call loads them again), and set
        # the size. Calls made meanwhile (other tasks) need not wait: a
        # script missing is loaded by _call, a state missing made by it.
        self._ready = True
        try:
            if self._client not in _LOADED:
                try:
                    for source, _sha in self._scripts.values():
                        self._io(self._client.script_load(source))
                except Exception as exc:
                    if not is_redis_error(exc):
                        raise
                    raise BackendError(
                        f"{_what_failed(exc)} while setting up pool {self.key!r}: {exc}", exc
                    ) from exc
                _LOADED.add(self._client)
            self._call("RESIZE", self._max_size)
        except BaseException:
            self._ready = False  # the next call tries again
            raise

    def _call(self, name: str, *args: Any) -> Any:
        # Run one script: one round trip (EVALSHA), BackendError on failure.
        if not self._ready:
            self._set_up()
        source, sha = self._scripts[name]
        command = ("EVALSHA", sha, 6, *self._keys_sent, self._lease_sent, self._seen, self._max_size, *args)
        try:
            try:
                result = self._io(self._client.execute_command(*command))
            except Exception as exc:
                if type(exc).__name__ != "NoScriptError":
                    raise
                # Redis lost its scripts (a restart, SCRIPT FLUSH): load it again.
                self._io(self._client.script_load(source))
                result = self._io(self._client.execute_command(*command))
        except Exception as exc:
            if not is_redis_error(exc):
                raise
            raise BackendError(f"{_what_failed(exc)} for pool {self.key!r}: {exc}", exc) from exc
        self._seen = result[-1]
        return result

    def _status(self) -> tuple[int, int, int, bool]:
        if self._async and not in_bridge():
            raise _use_async("free/size/waiting")
        held, waiting, max_size, recovering, _epoch = self._call("STATUS")
        return int(held), int(waiting), int(max_size), bool(int(recovering))

    def _hold(
        self, token_id: str, fence: int, valid_until: float, began: float, lined: bool = False
    ) -> RedisToken:
        # ``began``: when the get() began (time.monotonic()), for the metrics.
        token = RedisToken(token_id, self, _text(self._seen), fence, valid_until, lined)
        if self._observers:
            token._since = now = time.monotonic()
            for observer in self._observers:
                observer._checked_out(now - began)
        # A token dropped without put() is released, not kept alive.
        ref = weakref.ref(token, lambda _ref: self._dropped(token_id))
        with self._guard:
            self._held[token_id] = ref
            if self._service is None:
                self._start_service()
        return token

    def _dropped(self, token_id: str) -> None:
        if self._held.pop(token_id, None) is not None:
            logger.warning("a token of %r was garbage collected without put(); releasing it", self)
            self._spawn(self._release_quietly, token_id)

    def _spawn(self, function: Any, *args: Any) -> None:
        # Redis work nobody waits for: in a greenthread, thread or task.
        if not self._backend.can_spawn():  # (asyncio, its loop gone)
            logger.warning("no loop to run %r of %r in: its leases or entries will expire", function, self)
            return
        handle = self._backend.spawn(function, *args)
        if self._async:
            self._tasks.add(handle)
            handle.add_done_callback(self._tasks.discard)

    def _undo(self, function: Any, *args: Any) -> None:
        # Clean up after an interrupted call, here; if interrupted once
        # more (a second cancellation), in the background.
        try:
            function(*args)
        except BaseException:
            self._spawn(function, *args)
            raise

    def _release_quietly(self, token_id: str) -> None:
        try:
            self._call("RELEASE", token_id, "1")  # (its fence too, if it has one)
        except BackendError as exc:
            logger.warning("could not release a slot of %r (its lease will expire): %r", self, exc)

    def _pass_on(self, grant: Any) -> None:
        # A waiter was granted a slot but was killed before it resumed: the
        # slot goes to the next waiter. (A grant is ``token|fence|clock``.)
        self._undo(self._release_quietly, str(grant).split("|", 1)[0])

    def _leave_line(
        self, token_id: str, entry: str, keep_grant: bool = False, began: float = 0.0
    ) -> Optional[RedisToken]:
        # Take a waiter out of the Redis line. Its token if it had been
        # granted the slot meanwhile and keeps it; otherwise such a slot
        # passes on. ``began``: when its get() began (for the metrics).
        sent = time.monotonic()
        try:
            granted, fence, left_ms, _epoch = self._call("CANCEL", token_id, entry)
        except BackendError as exc:
            if keep_grant:
                raise
            logger.warning("could not leave the line of %r (the entry will expire): %r", self, exc)
            return None
        if int(granted) != 1:
            return None
        if not keep_grant:
            self._release_quietly(token_id)
            return None
        return self._hold(token_id, int(fence), sent + int(left_ms) / 1000, began, lined=True)

    # ------------------------------------------------------------------
    # the service (a greenthread, a daemon thread or a task): notifications,
    # renewals, heartbeats
    def _start_service(self) -> None:
        # Called with the guard held.
        if self._service is None:
            if not self._backend.can_spawn():  # (asyncio, outside its loop)
                return
            self._alarm = self._backend.alarm()
            self._service = self._backend.spawn(self._serve)
        elif self._local and not self._blocking:
            self._alarm.wake()  # it may be sleeping without XREAD: waiters now

    def _serve(self) -> None:
        clock = time.monotonic
        next_beat = clock() + self._interval
        alarm = self._alarm
        idle = 0  # turns in a row with nothing to renew or wait for
        try:
            while True:
                with self._guard:
                    # Leases are renewed until put back, also after close():
                    # letting one expire under a running holder would admit
                    # one too many. With none, the service stays for a turn
                    # more (a pool used in quick cycles does not start it
                    # anew each time), then ends.
                    busy = bool(self._held or (self._local and not self._closed))
                    idle = 0 if busy else 2 if self._closed else idle + 1
                    if idle > 1:
                        self._service = None
                        return
                    reading = bool(self._local and not self._closed)
                left = max(_MIN_BLOCK, next_beat - clock())
                try:
                    if reading:
                        self._take_grants(left)
                    else:
                        alarm.wait(left)
                    if clock() >= next_beat:
                        next_beat = clock() + self._interval
                        self._heartbeat()
                except Exception as exc:  # a broken socket, a closed client...
                    # Nothing may escape; the next turn retries.
                    logger.warning("the service of %r failed: %r; retrying", self, exc)
                    alarm.wait(min(left, 1.0))
        finally:
            if idle <= 1:  # killed, or cancelled with its loop
                with self._guard:
                    self._service = None

    def _take_grants(self, seconds: float) -> None:
        if self._block_cap is not None:
            seconds = min(seconds, self._block_cap)
        assert self._stream_id is not None  # set by the get() that waits
        self._blocking = True
        try:
            reply = self._io(
                self._client.xread(
                    {self._keys[5]: self._stream_id}, count=_READ_COUNT, block=max(1, int(seconds * 1000))
                )
            )
        finally:
            self._blocking = False
        with self._guard:  # (a get() that just queued may move _stream_id back)
            for _stream, entries in reply or ():
                for entry_id, fields in entries:
                    self._stream_id = _text(entry_id)
                    grant = _text(fields.get(b"g", fields.get("g", b"")))  # token|fence|clock
                    self._deliver(grant)

    def _deliver(self, grant: str) -> None:
        # A grant for one of our waiters (else another process's, or one
        # whose waiter gave up and, finding the grant, took or passed it).
        with self._guard:
            local = self._local.pop(grant.split("|", 1)[0], None)
            if local is not None:
                local[0].grant(grant)

    def _heartbeat(self) -> None:
        held: list[str] = []
        tokens: list[RedisToken] = []
        with self._guard:
            for token_id, ref in list(self._held.items()):
                token = ref()
                if token is not None:
                    held += (token_id, token.epoch)
                    tokens.append(token)
            entries = [entry for _waiter, entry in self._local.values()]
        if not held and not entries:
            return
        sent = time.monotonic()
        try:
            lost, granted, _epoch = self._call("HEARTBEAT", len(held) // 2, *held, *entries)
        except BackendError as exc:
            logger.warning("renewing the leases of %r failed: %r; retrying", self, exc)
            return
        lost_ids = set(map(_text, lost))
        for token in tokens:
            if token.id not in lost_ids:
                token.valid_until = max(token.valid_until, sent + self._lease)
        for token_id in lost_ids:
            if self._held.pop(token_id, None) is not None:
                logger.warning("lost the lease %s of %r: its put() will raise LeaseLost", token_id, self)
        for grant in map(_text, granted):  # grants the stream no longer had
            self._deliver(grant)


def _stream_order(entry_id: str) -> tuple[int, int]:
    # Stream ids ("ms-seq") in the order Redis gives them.
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _what_failed(exc: BaseException) -> str:
    # Unreachable (the network, the server down) or refused (an ACL user
    # without the commands the scripts need, a read-only replica...).
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"ConnectionError", "TimeoutError"}:
        return "Redis unreachable"
    if "NoPermissionError" in names or "NOPERM" in str(exc):
        return "Redis refused (no permission)"
    return "Redis refused the command"


def _socket_timeout(client: Any) -> Optional[float]:
    # The read timeout redis-py's connections use, if the client has one:
    # as given to its connection pool, else the connections' default.
    connections = getattr(client, "connection_pool", None)
    kwargs = getattr(connections, "connection_kwargs", {})
    if isinstance(kwargs, dict) and "socket_timeout" in kwargs:
        timeout = kwargs["socket_timeout"]
    else:
        timeout = None
        for cls in getattr(getattr(connections, "connection_class", None), "__mro__", ()):
            parameter = inspect.signature(cls.__init__).parameters.get("socket_timeout")
            if parameter is not None:
                timeout = parameter.default
                break
    return float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else None


def _is_async_client(client: Any) -> bool:
    # redis.asyncio's clients: their commands are coroutine functions.
    return inspect.iscoroutinefunction(getattr(client, "execute_command", None))


def _backend_for_client(name: object, client: Any) -> Backend:
    # The backend a RedisTokenPool runs on: its client's runtime.
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    is_async = _is_async_client(client)
    if name == "auto":
        name = (
            "asyncio"
            if is_async
            else "eventlet"
            if "eventlet" in sys.modules
            else "gevent"
            if "gevent" in sys.modules
            else "threads"
        )
    if is_async and name != "asyncio":
        raise TypeError(f"a redis.asyncio client runs on backend='asyncio', not {name!r}")
    if not is_async and name == "asyncio":
        raise TypeError("backend='asyncio' needs a redis.asyncio.Redis client")
    return backend_for(name)


def _use_async(name: str) -> PoolError:
    return PoolError(f"{name}() on a pool on asyncio: use the a-methods (await pool.aget(), ...)")


def _check_max_size(max_size: object) -> None:
    check_size("max_size", max_size, least=1)  # a pool of no slots admits nobody
