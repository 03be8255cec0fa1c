"""Proxy: a module-level name forwarding to a per-greenthread (or shared)
item, checked out lazily and given back when its greenthread ends."""

from __future__ import annotations

import sqlite3
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet.event import Event

from eventlet_pools import ConnectionPool, Pool, PoolError, PoolTimeout, Proxy
from tests.conftest import Tracker


class Box:
    """An item with attributes and methods to forward to."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.data = [n, n + 1]

    def double(self) -> int:
        return 2 * self.n

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> int:
        return self.data[index]

    def __iter__(self) -> Any:
        return iter(self.data)

    def __call__(self, x: int) -> int:
        return self.n + x


def box_pool(tracker: Tracker, max_size: int = 4, **kwargs: Any) -> Pool[Box]:
    serial = iter(range(1, 10_000))
    return Pool(
        max_size=max_size,
        create=lambda: tracker.make(lambda: Box(next(serial))),
        dispose=tracker.dispose,
        **kwargs,
    )


def test_proxy_can_exist_before_its_pool() -> None:
    proxy = Proxy()
    assert repr(proxy) == "<Proxy (not set)>"
    before = proxy.scope
    assert before is None
    with pytest.raises(PoolError, match="set"):
        proxy.double()
    tracker = Tracker()
    proxy.set(box_pool(tracker))
    assert proxy.scope == "greenthread"
    assert tracker.created == []  # set() checks nothing out
    assert proxy.double() == 2
    assert tracker.alive == 1


def test_each_greenthread_gets_its_own_item_for_its_whole_life() -> None:
    tracker = Tracker()
    pool = box_pool(tracker)
    proxy = Proxy(pool)

    def user() -> tuple[int, int]:
        first = proxy.n
        eventlet.sleep(0)  # others run in between
        return first, proxy.n

    results = [gt.wait() for gt in [eventlet.spawn(user) for _ in range(3)]]
    assert all(first == again for first, again in results)
    assert len({first for first, _ in results}) == 3
    # Every greenthread ended: its item went back to the pool (not disposed).
    assert len(pool.free_items) == 3
    assert tracker.disposed == []


def test_forwarded_operations() -> None:
    proxy = Proxy(box_pool(Tracker()))

    def use() -> tuple[Any, ...]:
        proxy.n = 41
        return proxy.n, proxy(1), len(proxy), proxy[1], list(proxy), proxy.double()

    assert eventlet.spawn(use).wait() == (41, 42, 2, 2, [1, 2], 82)


def test_release_gives_the_item_back_now() -> None:
    tracker = Tracker()
    pool = box_pool(tracker, max_size=1)
    proxy = Proxy(pool, timeout=0.01)
    release_done = Event()

    def holder() -> None:
        assert proxy.n == 1
        proxy.release()
        release_done.send()
        eventlet.sleep(10)  # still alive, but no longer holding

    gt = eventlet.spawn(holder)
    release_done.wait()

    def other() -> int:
        return int(proxy.n)  # only possible once the holder gave it back

    assert eventlet.spawn(other).wait() == 1
    gt.kill()
    proxy.release()  # holding nothing: does nothing


def test_first_access_waits_like_get_and_times_out() -> None:
    tracker = Tracker()
    pool = box_pool(tracker, max_size=1)
    proxy = Proxy(pool, timeout=0.01)
    holding = Event()
    done = Event()

    def holder() -> None:
        _ = proxy.n
        holding.send()
        done.wait()

    gt = eventlet.spawn(holder)
    holding.wait()
    with pytest.raises(PoolTimeout):
        eventlet.spawn(lambda: proxy.n).wait()
    done.send()
    gt.wait()
    assert eventlet.spawn(lambda: proxy.n).wait() == 1


def test_killed_greenthread_gives_its_item_back() -> None:
    tracker = Tracker()
    pool = box_pool(tracker, max_size=1)
    proxy = Proxy(pool)
    holding = Event()

    def holder() -> None:
        _ = proxy.n
        holding.send()
        eventlet.sleep(10)

    gt = eventlet.spawn(holder)
    holding.wait()
    gt.kill()
    with eventlet.Timeout(5):
        assert eventlet.spawn(lambda: proxy.n).wait() == 1
    assert pool.free() == 1


def test_shared_scope_checks_out_one_item_for_everybody() -> None:
    tracker = Tracker(switch_in_create=True)
    pool = box_pool(tracker)
    proxy = Proxy(pool, scope="shared")
    seen = [gt.wait() for gt in [eventlet.spawn(lambda: proxy.n) for _ in range(10)]]
    assert seen == [1] * 10
    assert len(tracker.created) == 1
    assert pool.free() == 3
    proxy.release()
    assert pool.free() == 4
    assert proxy.double() == 2  # the same item, checked out again


def test_plain_object_is_shared_and_scopes_are_checked() -> None:
    box = Box(5)
    proxy = Proxy(box)
    assert proxy.scope == "shared"
    assert proxy.double() == 10
    assert proxy.target() is box
    with pytest.raises(ValueError, match="greenthread"):
        Proxy(box, scope="greenthread")
    with pytest.raises(ValueError, match="scope"):
        Proxy(box, scope="thread")
    with pytest.raises(ValueError, match="scope"):
        Proxy(scope="everywhere")
    with pytest.raises(TypeError, match="timeout"):
        Proxy(box, timeout="soon")  # type: ignore[arg-type]


def test_proxy_over_a_connection_pool() -> None:
    pool = ConnectionPool(lambda: sqlite3.connect(":memory:"), max_size=2)
    db = Proxy(pool)

    def query() -> Any:
        cur = db.cursor()
        cur.execute("SELECT 40 + 2")
        return cur.fetchone()

    assert eventlet.spawn(query).wait() == (42,)
    assert pool.free() == 2  # the greenthread ended: the connection is back
    assert pool.stats().checked_out == 0
    pool.close()


def test_set_again_returns_items_to_the_old_pool() -> None:
    old_tracker, new_tracker = Tracker(), Tracker()
    old, new = box_pool(old_tracker), box_pool(new_tracker)
    proxy = Proxy(old, scope="shared")
    assert proxy.n == 1
    proxy.set(new, scope="shared")
    assert old.free() == 4
    assert proxy.n == 1
    assert new.free() == 3
