"""Fixtures shared by the suite: pool flavours, a create/dispose tracker,
the DESIGN.md invariants, and the ``runner`` that runs a test body on each
backend (eventlet, gevent, threads, asyncio).

With ``runner``, a test body is plain synchronous code: ``runner.run(body)``
runs it where the backend waits (the main greenlet with eventlet's or
gevent's hub, both in this process, neither monkey-patching; the main
thread; a bridge greenlet inside a running event loop, where
``pool.get()`` waits as ``await pool.aget()`` would). ``runner.spawn`` starts
a greenthread, an OS thread or a task; ``runner.until`` lets the others run
until a condition holds (a sequence point, not a timed sleep).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any, Callable, Optional

import gevent
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet.event import Event
    from greenlet import GreenletExit, getcurrent

from eventlet_pools import Pool, Token, TokenPool
from eventlet_pools._waiters import await_only, run_bridged


class Tracker:
    """Counts what a pool creates and disposes; can be told to fail creates.

    ``alive`` is what exists right now as far as the pool's owner can tell:
    every item created and not yet disposed.
    """

    def __init__(self, *, switch_in_create: bool = False) -> None:
        self.created: list[Any] = []
        self.disposed: list[Any] = []
        self.fail_next = 0
        self.fail_always = False
        self.switch_in_create = switch_in_create
        self.max_alive = 0
        self._serial = 0
        # When set, create() blocks until the event is sent: a sequence point.
        self.gate: Optional[Event] = None
        # Random failures for storms: each create() fails with this chance.
        self.fail_probability = 0.0
        self.rng = random.Random(0)
        # Objects a test puts back that the pool never made (placeholders):
        # disposing them is expected, and recorded apart.
        self.strays: list[Any] = []
        self.disposed_strays: list[Any] = []

    @property
    def alive(self) -> int:
        return len(self.created) - len(self.disposed)

    def make(self, build: Optional[Callable[[], Any]] = None) -> Any:
        if self.switch_in_create:
            eventlet.sleep(0)
        if self.gate is not None:
            self.gate.wait()
        if self.fail_probability and self.rng.random() < self.fail_probability:
            raise CreateFailed("injected random create() failure")
        if self.fail_always or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise CreateFailed("injected create() failure")
        self._serial += 1
        item = build() if build is not None else Item(self._serial)
        self.created.append(item)
        self.max_alive = max(self.max_alive, self.alive)
        return item

    def dispose(self, item: Any) -> None:
        if any(item is s for s in self.strays):
            assert not any(item is d for d in self.disposed_strays), f"disposed twice {item!r}"
            self.disposed_strays.append(item)
            return
        assert any(item is c for c in self.created), f"disposed a stranger {item!r}"
        assert not any(item is d for d in self.disposed), f"disposed twice {item!r}"
        self.disposed.append(item)


class CreateFailed(RuntimeError):
    """The failure injected into create()."""


class Item:
    """A distinct, numbered pool item (ints would be shared by identity)."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __repr__(self) -> str:
        return f"Item({self.n})"


def checked_out(pool: Pool[Any]) -> int:
    # _free, not free_items: reading that attribute may yield to waiters.
    return pool.current_size - len(pool._free) - pool._creating


def reclaimed_out(pool: Pool[Any]) -> int:
    """Items whose slot was reclaimed (reclaim_after) and that are not back yet."""
    return sum(1 for rec in pool._records.values() if rec.reclaimed)


def capacity(pool: Pool[Any]) -> int:
    """How many items can be alive at once: max_size plus any overflow."""
    return pool.max_size + pool._opts.max_overflow


def assert_invariants(pool: Pool[Any], tracker: Optional[Tracker] = None) -> None:
    """The bookkeeping identities of DESIGN.md, checkable at any moment."""
    assert pool._creating >= 0
    assert checked_out(pool) >= 0, pool
    # free_items holds only items a get() could take: never one twice.
    assert len({id(item) for item in pool._free}) == len(pool._free)
    assert pool.waiting() == len(pool._waiters)
    if pool.waiting():
        # Nobody waits while a free item or spare capacity exists (spare
        # capacity may wait out a create_retry backoff).
        assert not pool._free, pool
        assert pool.current_size >= capacity(pool) or pool.closed or pool._retry_due is not None, pool
    if tracker is not None:
        # Items the pool still accounts for are exactly the live ones, plus
        # reclaimed ones their holders have not given back yet.
        assert tracker.alive == pool.current_size - pool._creating + reclaimed_out(pool), (
            tracker.alive,
            pool,
        )


def assert_settled(pool: Pool[Any], tracker: Optional[Tracker] = None) -> None:
    """After a run, once every holder gave back: nothing lost, nobody waiting."""
    assert_invariants(pool, tracker)
    assert pool.waiting() == 0
    assert pool._creating == 0
    assert not pool._waiters.in_transit()
    assert checked_out(pool) == 0
    assert reclaimed_out(pool) == 0
    if not pool.closed:
        assert pool.free() == capacity(pool), pool


class LockedTracker(Tracker):
    """A Tracker that many OS threads may call at once.

    ``block``, when set, is a threading.Event every create() waits for.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.block: Optional[threading.Event] = None

    def make(self, build: Optional[Callable[[], Any]] = None) -> Any:
        if self.block is not None:
            self.block.wait(10)
        with self._lock:
            return super().make(build)

    def dispose(self, item: Any) -> None:
        with self._lock:
            super().dispose(item)


def check_pool(pool: Pool[Any], tracker: Optional[Tracker] = None, settled: bool = False) -> None:
    """assert_invariants (or assert_settled) on any backend.

    With threads they are read under the pool's lock; and since create()
    runs without it, a tracker may already count an item whose creating
    slot the pool has not turned into an item yet.
    """
    lock = pool._lock
    if lock is None:
        (assert_settled if settled else assert_invariants)(pool, tracker)
        return
    with lock:
        if settled:
            assert_settled(pool, tracker)
            return
        assert_invariants(pool)
        if tracker is not None:
            made = pool.current_size - pool._creating
            assert made <= tracker.alive <= pool.current_size, (tracker.alive, pool)


FLAVOURS = ("create-arg", "subclass", "token")


def build_pool(flavour: str, tracker: Tracker, **kwargs: Any) -> Pool[Any]:
    """One pool of the given flavour whose creates and disposes ``tracker`` sees."""
    if flavour == "create-arg":
        return Pool(create=tracker.make, dispose=tracker.dispose, **kwargs)
    if flavour == "subclass":

        class ItemPool(Pool[Item]):
            def create(self) -> Item:
                return tracker.make()  # type: ignore[no-any-return]

            def dispose(self, item: Item) -> None:
                tracker.dispose(item)

        return ItemPool(**kwargs)
    if flavour == "token":

        class TrackedTokenPool(TokenPool):
            def create(self) -> Token:
                return tracker.make(super().create)  # type: ignore[no-any-return]

            def dispose(self, item: Token) -> None:
                tracker.dispose(item)

        return TrackedTokenPool(**kwargs)
    raise AssertionError(flavour)


@pytest.fixture(params=FLAVOURS)
def make_pool(request: pytest.FixtureRequest) -> Iterator[Callable[..., tuple[Pool[Any], Tracker]]]:
    """Build pools of one flavour; each comes with its tracker."""
    made: list[Pool[Any]] = []

    def make(*, switch_in_create: bool = False, **kwargs: Any) -> tuple[Pool[Any], Tracker]:
        tracker = Tracker(switch_in_create=switch_in_create)
        pool = build_pool(request.param, tracker, **kwargs)
        made.append(pool)
        return pool, tracker

    yield make
    for pool in made:
        pool.close()


@pytest.fixture(autouse=True)
def _no_stray_greenthreads() -> Iterator[None]:
    """Let scheduled wake-ups run so one test's greenthreads never leak into the next."""
    yield
    for _ in range(3):
        eventlet.sleep(0)
        gevent.sleep(0)


class FakeClock:
    """A monotonic clock that moves only when told to.

    Installed as the hub's clock too, so hub timers (waiter deadlines, the
    maintenance greenthread's sleep) fall due in fake time: ``advance()``
    moves time on, then lets the hub run whatever became due.

    Each reading moves it on by one nanosecond: the hub orders timers due
    at the same instant arbitrarily, so a clock that stood quite still
    would let a later ``sleep(0)`` overtake an earlier ``spawn``.
    """

    TICK = 1e-9

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += self.TICK
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        # Two turns: one for the timers that fell due, one for the wake-ups
        # they scheduled.
        eventlet.sleep(0)
        eventlet.sleep(0)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    """A FakeClock driving both the pools under test and the eventlet hub."""
    hub = eventlet.hubs.get_hub()
    real = hub.clock
    fake = FakeClock(real())
    hub.clock = fake
    try:
        yield fake
    finally:
        hub.clock = real


class Gauge:
    """Counts holders in and out (any thread); keeps the most at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active = 0
        self.most = 0

    def enter(self) -> None:
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)

    def leave(self) -> None:
        with self._lock:
            self.active -= 1


class Handle:
    """A spawned greenthread, thread or task."""

    def __init__(self, runner: Runner, native: Any, box: Optional[dict[str, Any]] = None) -> None:
        self.runner = runner
        self.native = native
        self.box = box

    def wait(self) -> Any:
        backend = self.runner.backend
        if backend == "eventlet":
            return self.native.wait()
        if backend == "gevent":
            # (gevent's get() returns the GreenletExit of a kill; eventlet's
            # wait() raises it, and so does this)
            result = self.native.get()
            if isinstance(result, GreenletExit):
                raise result
            return result
        if backend == "asyncio":
            return await_only(self.native)
        self.native.join(60)
        assert self.box is not None
        if "error" in self.box:
            raise self.box["error"]
        return self.box.get("result")

    def stop(self) -> None:
        """Kill the greenthread or cancel the task (threads cannot be stopped)."""
        backend = self.runner.backend
        if backend == "eventlet":
            self.native.kill()
        elif backend == "gevent":
            glet = self.native
            if glet.dead or not glet:  # ended, or not started: gevent's own kill
                glet.kill()
                return
            # At once, as eventlet's kill() (gevent's kill() waits for the
            # loop, behind a wake-up already scheduled): switch in with
            # GreenletExit, and come back here once it ends or waits.
            gevent.get_hub().loop.run_callback(getcurrent().switch)
            glet.throw(GreenletExit())
        else:
            self.native.cancel()


class Runner:
    """How a test body runs, spawns and yields on one backend."""

    def __init__(self, backend: str, flavour: str = "create-arg") -> None:
        self.backend = backend
        #: Which kind of pool runner.pool() makes (see build_pool).
        self.flavour = flavour
        #: Threads cannot be killed or cancelled.
        self.can_stop = backend != "threads"
        #: How many concurrent waiters a test may start.
        self.crowd = {"eventlet": 1000, "gevent": 1000, "threads": 64, "asyncio": 1000}[backend]

    def pool(self, tracker: Tracker, **kwargs: Any) -> Pool[Any]:
        return build_pool(self.flavour, tracker, backend=self.backend, **kwargs)

    def tracker(self) -> Tracker:
        return LockedTracker() if self.backend == "threads" else Tracker()

    def run(self, body: Callable[[], Any]) -> Any:
        if self.backend == "asyncio":
            return asyncio.run(asyncio.wait_for(run_bridged(body), 60))
        return body()

    def spawn(self, function: Callable[..., Any], *args: Any) -> Handle:
        if self.backend == "eventlet":
            return Handle(self, eventlet.spawn(function, *args))
        if self.backend == "gevent":
            return Handle(self, gevent.spawn(function, *args))
        if self.backend == "asyncio":
            return Handle(self, asyncio.get_running_loop().create_task(run_bridged(function, *args)))
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = function(*args)
            except BaseException as exc:  # re-raised by wait()
                box["error"] = exc

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return Handle(self, thread, box)

    def yield_(self) -> None:
        if self.backend == "eventlet":
            eventlet.sleep(0)
        elif self.backend == "gevent":
            gevent.sleep(0)
        elif self.backend == "asyncio":
            await_only(asyncio.sleep(0))
        else:
            time.sleep(0.0005)

    def until(self, predicate: Callable[[], bool], seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting for a sequence point"
            self.yield_()

    def ended(self, worker: Any) -> bool:
        """Whether a pool's maintenance worker (greenlet, thread, task) ended."""
        if self.backend == "threads":
            return not worker.is_alive()
        if self.backend == "asyncio":
            return bool(worker.done())
        return bool(worker.dead)

    def check(self, pool: Pool[Any], tracker: Optional[Tracker] = None, settled: bool = False) -> None:
        """The DESIGN.md invariants, on this backend (see check_pool)."""
        check_pool(pool, tracker, settled)


BACKENDS = ("eventlet", "gevent", "threads", "asyncio")


@pytest.fixture(params=[(backend, flavour) for backend in BACKENDS for flavour in FLAVOURS], ids="-".join)
def runner(request: pytest.FixtureRequest) -> Runner:
    """The contract's setting: each backend with each pool flavour."""
    backend, flavour = request.param
    return Runner(backend, flavour)


def wait_all(handles: list[Handle]) -> list[Any]:
    results = []
    for handle in handles:
        try:
            results.append(handle.wait())
        except (GreenletExit, asyncio.CancelledError) as exc:
            results.append(exc)
    return results
