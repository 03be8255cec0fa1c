"""The five patterns of production subclasses of eventlet.pools.Pool.

Modelled on public code that subclasses eventlet's pool: OpenStack Cinder's
and Manila's ``SSHPool`` (a ``get()`` that checks liveness, waits on
``channel``, a ``put()`` that closes what is over the size), Swift's
memcache pool (a placeholder put back after a failed ``create()``),
``eventlet.db_pool`` (``None`` handed to a waiter, then ``free_items``
walked) and vmware-nsxlib (finds a connection in ``channel.queue``). Each
class is built on the ``pools`` module under test, exactly as it would be
written for eventlet.
"""

from __future__ import annotations

import logging
import socket as stdlib_socket
import warnings
from types import ModuleType
from typing import Any, Optional

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet.green import socket

import eventlet_pools
from tests.compat.conftest import is_ours
from tests.tiny_memcache import TinyMemcache

pytestmark = pytest.mark.timeout(30)


class FakeSSH:
    """Stands in for an SSH client: its transport can die; close() counts."""

    serial = 0

    def __init__(self) -> None:
        FakeSSH.serial += 1
        self.n = FakeSSH.serial
        self.active = True
        self.closed = False

    def close(self) -> None:
        assert not self.closed, f"{self!r} closed twice"
        self.closed = True
        self.active = False

    def __repr__(self) -> str:
        return f"FakeSSH({self.n})"


class ConnectFailed(Exception):
    pass


def cinder_style(pools: ModuleType) -> Any:
    """get() takes from the pool and replaces a dead connection; put()
    closes a connection when the pool is over its size (after a resize)."""

    class SSHPool(pools.Pool):  # type: ignore[name-defined,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.made: list[FakeSSH] = []
            self.fail_creates = False
            super().__init__(*args, **kwargs)

        def create(self) -> FakeSSH:
            if self.fail_creates:
                raise ConnectFailed("no route to host")
            conn = FakeSSH()
            self.made.append(conn)
            return conn

        def get(self) -> FakeSSH:
            conn = super().get()
            if conn:
                if conn.active:
                    return conn  # type: ignore[no-any-return]
                conn.close()
            try:
                new_conn = self.create()
            except Exception:
                if conn:
                    self.current_size -= 1
                raise
            return new_conn

        def put(self, conn: FakeSSH) -> None:
            if self.current_size > self.max_size:
                conn.close()
                self.current_size -= 1
                return
            super().put(conn)

    return SSHPool


def manila_style(pools: ModuleType) -> Any:
    """get() reads free_items itself, creates below max_size, and otherwise
    waits on ``self.channel.get()``."""

    class SSHPool(pools.Pool):  # type: ignore[name-defined,misc]
        def create(self) -> FakeSSH:
            return FakeSSH()

        def get(self) -> FakeSSH:
            if self.free_items:
                conn = self.free_items.popleft()
                if conn:
                    if conn.active:
                        return conn  # type: ignore[no-any-return]
                    conn.close()
                return self.create()
            if self.current_size < self.max_size:
                created = self.create()
                self.current_size += 1
                return created
            return self.channel.get()  # type: ignore[no-any-return]

    return SSHPool


# ---------------------------------------------------------------------------
# 1. get() overridden with eventlet's signature


def test_item_calls_an_overridden_get_without_arguments(pools: ModuleType) -> None:
    pool = cinder_style(pools)(max_size=2)
    with pool.item() as first:
        assert first.active
    first.active = False  # its transport died while it sat in the pool
    with pool.item() as second:
        assert second is not first
        assert second.active
    assert first.closed
    assert pool.current_size == 1
    assert list(pool.free_items) == [second]


def test_a_failed_replacement_gives_the_slot_back(pools: ModuleType) -> None:
    pool = cinder_style(pools)(max_size=1)
    with pool.item() as conn:
        pass
    conn.active = False
    pool.fail_creates = True
    with pytest.raises(ConnectFailed):
        pool.get()
    assert (pool.current_size, pool.free()) == (0, 1)
    pool.fail_creates = False
    with pool.item() as again:
        assert again.active


def test_proxy_calls_an_overridden_get_without_arguments() -> None:
    pool = cinder_style(eventlet_pools)(max_size=1)
    proxy = eventlet_pools.Proxy(pool, scope="shared")
    assert proxy.active is True
    proxy.release()
    assert pool.free() == 1


# ---------------------------------------------------------------------------
# 2. put() closes what is over the size


def test_resize_down_lets_the_excess_leave_through_put(pools: ModuleType) -> None:
    pool = cinder_style(pools)(max_size=3)
    held = [pool.get() for _ in range(3)]
    for conn in held[:2]:
        pool.put(conn)
    pool.resize(1)
    # Nothing is closed behind the subclass's back: free connections stay
    # until they pass through put(), which closes them.
    assert not any(conn.closed for conn in pool.made)
    pool.put(held[2])
    for _ in range(3):
        with pool.item():
            pass
    open_ = [conn for conn in pool.made if not conn.closed]
    assert len(open_) == 1 == pool.current_size
    assert list(pool.free_items) == open_
    assert pool.free() == 1


def test_resize_down_disposes_free_extras_at_once_with_a_dispose_of_its_own() -> None:
    class ClosingPool(cinder_style(eventlet_pools)):  # type: ignore[misc]
        def dispose(self, conn: FakeSSH) -> None:
            conn.close()

    pool = ClosingPool(max_size=3)
    conns = [pool.get() for _ in range(3)]
    for conn in conns:
        pool.put(conn)
    pool.resize(1)
    assert [conn.closed for conn in conns] == [True, True, False]
    assert (pool.current_size, list(pool.free_items)) == (1, [conns[2]])


# ---------------------------------------------------------------------------
# 3. a placeholder goes back after a failed create()


class PoolWaitTimeout(eventlet.Timeout):  # type: ignore[misc]
    """Swift's MemcachePoolTimeout: the wait for a pooled connection."""


def swift_style(pools: ModuleType) -> Any:
    class MemcacheConnPool(pools.Pool):  # type: ignore[name-defined,misc]
        def __init__(self, address: tuple[str, int], size: int) -> None:
            pools.Pool.__init__(self, max_size=size)
            self.address = address

        def create(self) -> tuple[Any, Any]:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            with eventlet.Timeout(1.0):
                sock.connect(self.address)
            return sock.makefile("rwb"), sock

        def get(self) -> tuple[Any, Any]:
            fp, sock = super().get()
            try:
                if fp is None:  # an error happened before: reconnect
                    fp, sock = self.create()
                return fp, sock
            except PoolWaitTimeout:
                self.put((None, None))
                raise

    return MemcacheConnPool


class MemcacheClient:
    """Swift's error handling: a failure is logged, and (None, None) goes
    back to the pool so that the next get() reconnects."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.errors: list[str] = []

    def _call(self, request: bytes, reply: Any) -> Any:
        try:
            with PoolWaitTimeout(1.0):
                fp, sock = self.pool.get()
        except PoolWaitTimeout:
            self.errors.append("timed out getting a connection")
            return None
        except (Exception, eventlet.Timeout) as exc:
            self.errors.append(f"connecting: {exc!r}")
            self.pool.put((None, None))
            return None
        try:
            fp.write(request)
            fp.flush()
            result = reply(fp)
        except Exception as exc:
            self.errors.append(f"talking: {exc!r}")
            fp.close()
            sock.close()
            self.pool.put((None, None))
            return None
        self.pool.put((fp, sock))
        return result

    def set(self, key: bytes, value: bytes) -> Optional[bool]:
        request = b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value)
        return self._call(request, lambda fp: fp.readline() == b"STORED\r\n")  # type: ignore[no-any-return]

    def get(self, key: bytes) -> Optional[bytes]:
        def reply(fp: Any) -> Optional[bytes]:
            header = fp.readline()
            if header == b"END\r\n":
                return None
            value = fp.read(int(header.split()[3]) + 2)[:-2]
            fp.readline()
            return value  # type: ignore[no-any-return]

        return self._call(b"get %s\r\n" % key, reply)  # type: ignore[no-any-return]


def unused_loopback_port() -> int:
    probe = stdlib_socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def test_memcached_down_logs_instead_of_raising_and_ours_does_not_drift(
    pools: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    port = unused_loopback_port()
    pool = swift_style(pools)(("127.0.0.1", port), size=2)
    client = MemcacheClient(pool)
    with caplog.at_level(logging.WARNING, logger="eventlet_pools"):
        for _ in range(5):
            assert client.set(b"k", b"v") is None
            assert client.get(b"k") is None
    assert len(client.errors) == 10
    assert all(error.startswith("connecting: ConnectionRefusedError") for error in client.errors)
    if is_ours(pools):
        # The placeholders were dropped: the pool is exactly as it started.
        assert (pool.current_size, len(pool.free_items), pool.free()) == (0, 0, 2)
        assert len(caplog.records) == 10
    else:
        # eventlet's pool kept the first placeholder as an extra item (each
        # later get() takes it and the failure puts it back): it has grown
        # past its size, free() says 3 of a pool of 2.
        assert list(pool.free_items) == [(None, None)]
        assert pool.free() == 3

    server = TinyMemcache(port)
    try:
        assert client.set(b"k", b"v") is True
        assert client.get(b"k") == b"v"
        assert pool.current_size <= 2 if is_ours(pools) else True
        # A restart drops the connections; the next call fails while talking,
        # puts a placeholder back for its checked-out slot, and the one after
        # reconnects.
        server.drop_all()
        client.errors.clear()
        results = [client.get(b"k") for _ in range(4)]
        assert results[-1] == b"v"
        assert all(error.startswith("talking") for error in client.errors)
        if is_ours(pools):
            assert pool.current_size <= 2
            assert pool.free() == 2
    finally:
        server.close()


# ---------------------------------------------------------------------------
# 4. free_items holds only items a get() could take (eventlet.db_pool)


def dbpool_style(pools: ModuleType) -> Any:
    """Free items are (last_used, created, conn) tuples; a dead connection
    returned while others wait goes to a waiter as None ("make a new one");
    after every put() the free tuples are walked."""

    class TuplePool(pools.Pool):  # type: ignore[name-defined,misc]
        def create(self) -> tuple[float, float, FakeSSH]:
            return (0.0, 0.0, FakeSSH())

        def get(self) -> tuple[float, float, FakeSSH]:
            item = super().get()
            if item is None:
                item = self.create()
            return item  # type: ignore[no-any-return]

        def put(self, item: tuple[float, float, FakeSSH]) -> None:
            if not item[2].active:
                item[2].close()
                if self.waiting() > 0:
                    super().put(None)
                else:
                    self.current_size -= 1
            else:
                super().put(item)
            self.oldest = min((created for _, created, _ in self.free_items), default=None)

    return TuplePool


def test_a_dead_connection_returned_while_others_wait(pools: ModuleType) -> None:
    pool = dbpool_style(pools)(max_size=1)
    held = pool.get()
    served: list[int] = []

    def worker(n: int) -> None:
        item = pool.get()
        served.append(n)
        pool.put(item)

    workers = [eventlet.spawn(worker, n) for n in range(3)]
    eventlet.sleep(0)
    assert pool.waiting() == 3
    held[2].active = False
    pool.put(held)  # None goes to the first waiter; walking free_items works
    for gt in workers:
        gt.wait()
    assert sorted(served) == [0, 1, 2]
    if is_ours(pools):
        assert served == [0, 1, 2]
    assert (pool.current_size, len(pool.free_items), pool.waiting()) == (1, 1, 0)
    assert held[2].closed


# ---------------------------------------------------------------------------
# 5. channel


def test_a_get_that_waits_on_channel(pools: ModuleType) -> None:
    pool = manila_style(pools)(max_size=2)
    held = [pool.get(), pool.get()]
    served: list[int] = []

    def worker(n: int) -> None:
        with pool.item() as conn:
            served.append(n)
            assert conn.active

    workers = [eventlet.spawn(worker, n) for n in range(4)]
    eventlet.sleep(0)
    assert pool.waiting() == 4
    assert pool.channel.getting() == 4
    workers[1].kill()  # a waiter killed while waiting leaves the line
    assert pool.waiting() == 3
    for conn in held:
        pool.put(conn)
    for gt in (workers[0], workers[2], workers[3]):
        gt.wait()
    assert sorted(served) == [0, 2, 3]
    if is_ours(pools):
        assert served == [0, 2, 3]  # first come, first served
    assert pool.current_size == 2
    assert pool.free() == 2
    assert pool.waiting() == 0


def test_a_connection_in_transit_is_found_in_channel_queue(pools: ModuleType) -> None:
    pool = pools.Pool(max_size=1, create=FakeSSH)
    conn = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    pool.put(conn)  # handed over; the waiter has not run yet

    # vmware-nsxlib's endpoint_for_connection
    def known(candidate: Any) -> bool:
        return candidate in pool.channel.queue or candidate in pool.free_items

    if is_ours(pools):
        # put() did not switch: the item is on its way, not free.
        assert known(conn)
        assert list(pool.channel.queue) == [conn]
    else:
        # eventlet's put() switched: the waiter took the item already.
        assert not known(conn)
    assert waiter.wait() is conn
    assert list(pool.channel.queue) == []
    assert pool.channel.putting() == 0


def test_channel_get_times_out_and_leaves_the_line() -> None:
    pool = eventlet_pools.Pool(max_size=1, create=FakeSSH)
    held = pool.get()
    with pytest.raises(eventlet_pools.PoolTimeout):
        pool.channel.get(timeout=0.01)
    assert pool.waiting() == 0
    pool.put(held)
    assert pool.channel.get() is held


def test_reading_free_items_lets_waiters_whose_timeouts_fire_run_first(pools: ModuleType) -> None:
    # eventlet's put() switches to the waiter it hands the item to; ours
    # does not switch, but reading free_items settles the hand-over first.
    pool = pools.Pool(max_size=1, create=FakeSSH)
    pool.get()
    hub = eventlet.hubs.get_hub()
    getters = [eventlet.spawn(pool.get) for _ in range(3)]
    eventlet.sleep(0)
    for getter in getters:
        hub.schedule_call_global(0, getter.throw, eventlet.Timeout(None))
    pool.put(FakeSSH())
    assert len(pool.free_items) == 1
    assert pool.waiting() == 0


def test_import_as_pools_names_everything_eventlet_pools_has() -> None:
    import eventlet.pools

    for name in [*eventlet.pools.__all__, "Token"]:
        assert hasattr(eventlet_pools, name), name
    assert issubclass(eventlet_pools.TokenPool, eventlet_pools.Pool)
