"""Stress and property tests: storms of greenthreads with injected faults,
checking the DESIGN.md invariants during and after every run."""

from __future__ import annotations

import contextlib
import random
from typing import Any, Optional

import eventlet
import pytest
from eventlet.event import Event
from greenlet import GreenletExit, getcurrent
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from eventlet_pools import Backoff, Pool, PoolEvent, PoolTimeout
from eventlet_pools._base import Slot
from eventlet_pools._waiters import _GRANTED, GreenWaiterQueue
from tests.conftest import (
    FLAVOURS,
    CreateFailed,
    Tracker,
    assert_invariants,
    assert_settled,
    build_pool,
    capacity,
    checked_out,
    reclaimed_out,
)

OPS = ("item", "get_put", "discard", "nowait", "thrown_timeout")
TIMEOUTS: tuple[Optional[float], ...] = (None, None, 0, 0.0005, 0.002, 0.05)


class Storm:
    """A seeded random storm against one pool.

    ``threads`` workers each run ``ops`` random operations (with a random
    timeout each, holding their item across a random number of switches),
    while a killer throws GreenletExit or eventlet.Timeout into random
    workers, create() fails at random, and (optionally) a resizer changes
    max_size. A monitor checks the invariants at every hub turn.
    """

    def __init__(
        self,
        flavour: str,
        seed: int,
        *,
        threads: int,
        ops: int,
        resize: bool,
        lifecycle: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        self.tracker = Tracker(switch_in_create=True)
        self.tracker.rng = random.Random(seed + 1)
        self.max_size = 8
        self.faulty = True  # check() and reset() fail at random while set
        self.fault_rng = random.Random(seed + 2)
        options: dict[str, Any] = {}
        if lifecycle:
            options = {
                "min_size": 2,
                "max_age": 0.05,
                "max_idle": 0.01,
                "max_uses": 5,
                "max_overflow": 2,
                "check": self.check,
                "reset": self.reset,
                "health_check_interval": 0.005,
                "max_hold": 0.01,
                "reclaim_after": 0.03,
                "create_retry": Backoff(first=0.001, cap=0.005, jitter=0.5),
            }
        self.pool = build_pool(flavour, self.tracker, max_size=self.max_size, **options)
        self.tracker.fail_probability = 0.05  # after min_size was filled
        self.checks_failed = self.resets_failed = 0
        self.lifecycle = lifecycle
        # A leak is reported at least once: the leaker holds its item until
        # the pool reports it (a sequence point, whatever the machine speed).
        self.leak_reported = Event()
        self.pool.listen("leak", self.on_leak)
        self.threads, self.ops, self.resize = threads, ops, resize
        self.sizes_seen = {self.max_size}
        self.started = self.completed = self.timeouts = self.create_errors = 0
        self.killed = self.interrupted = 0
        self.violations: list[str] = []
        self.running = True

    def on_leak(self, event: PoolEvent) -> None:
        if not self.leak_reported.ready():
            self.leak_reported.send(event.item)

    def leaker(self) -> None:
        with self.pool.item():
            self.leak_reported.wait()

    def check(self, item: Any) -> bool:
        if not self.faulty:
            return True
        roll = self.fault_rng.random()
        if roll < 0.3:
            eventlet.sleep(0)  # a ping that waits for the network
        if roll < 0.02:
            self.checks_failed += 1
            raise ConnectionError("injected check() error")
        if roll > 0.95:
            self.checks_failed += 1
            return False
        return True

    def reset(self, item: Any) -> None:
        if not self.faulty:
            return
        roll = self.fault_rng.random()
        if roll < 0.3:
            eventlet.sleep(0)  # a rollback round trip
        if roll > 0.95:
            self.resets_failed += 1
            raise ConnectionError("injected reset() error")

    def hold(self, switches: int) -> None:
        for _ in range(switches):
            eventlet.sleep(0)

    def one_op(self, op: str, timeout: Optional[float], switches: int) -> None:
        pool = self.pool
        if op == "item":
            with pool.item(timeout=timeout):
                self.hold(switches)
        elif op in ("get_put", "nowait"):
            obj = pool.get(block=False) if op == "nowait" else pool.get(timeout=timeout)
            try:
                self.hold(switches)
            finally:
                pool.put(obj)
        elif op == "discard":
            obj = pool.get(timeout=timeout)
            try:
                self.hold(switches)
            except BaseException:
                pool.put(obj)
                raise
            pool.discard(obj)
        else:  # an eventlet.Timeout of the caller's own, around the whole use
            with eventlet.Timeout(timeout or 0.001, False), pool.item():
                self.hold(switches)

    def worker(self, plan: list[tuple[str, Optional[float], int]]) -> None:
        for op, timeout, switches in plan:
            self.started += 1
            try:
                self.one_op(op, timeout, switches)
                self.completed += 1
            except PoolTimeout:
                self.timeouts += 1
            except CreateFailed:
                self.create_errors += 1
            except eventlet.Timeout:
                self.interrupted += 1  # thrown in by the killer; carry on

    def killer(self, workers: list[Any]) -> None:
        while self.running:
            self.hold(self.rng.randint(1, 4))
            victim = self.rng.choice(workers)
            if not victim.dead:
                self.killed += 1
                if self.rng.random() < 0.5:
                    victim.kill()
                else:
                    victim.kill(eventlet.Timeout(None))

    def resizer(self) -> None:
        while self.running:
            self.hold(self.rng.randint(5, 30))
            size = self.rng.randint(1, 12)
            self.sizes_seen.add(size)
            self.pool.resize(size)

    def monitor(self) -> None:
        while self.running:
            try:
                assert_invariants(self.pool, self.tracker)
                if not self.resize:
                    # Reclaimed items are still alive until their holders
                    # give them back; their slots were reused meanwhile.
                    assert self.tracker.alive <= capacity(self.pool) + reclaimed_out(self.pool)
            except AssertionError as exc:
                self.violations.append(repr(exc))
            eventlet.sleep(0)

    def run(self) -> None:
        plans = [
            [
                (
                    self.rng.choice(OPS),
                    self.rng.choice(TIMEOUTS),
                    self.rng.randint(0, 3),
                )
                for _ in range(self.ops)
            ]
            for _ in range(self.threads)
        ]
        workers = [eventlet.spawn(self.worker, plan) for plan in plans]
        helpers = [eventlet.spawn(self.killer, workers), eventlet.spawn(self.monitor)]
        if self.lifecycle:
            helpers.append(eventlet.spawn(self.leaker))
        if self.resize:
            helpers.append(eventlet.spawn(self.resizer))
        with eventlet.Timeout(60):  # a hang fails the test rather than CI
            for w in workers:
                with contextlib.suppress(GreenletExit, eventlet.Timeout):
                    w.wait()
            self.running = False
            for h in helpers:
                h.wait()
        if self.resize:
            self.pool.resize(self.max_size)
        self.tracker.fail_probability = 0.0
        self.faulty = False
        # Maintenance may be half-way through a health check or a refill
        # that switched: give it hub turns until it is done with every item.
        # A create_retry backoff (at most 5 ms here) holds back creation
        # until it passes: wait for it in 1 ms steps rather than turns.
        pool = self.pool
        for _ in range(1000):
            busy = checked_out(pool) or pool._creating or pool._waiters.in_transit()
            if not busy and pool._retry_due is None:
                break
            eventlet.sleep(0.001 if not busy else 0)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("resize", [False, True], ids=["fixed", "resizing"])
@pytest.mark.parametrize("seed", [1, 2])
def test_fault_storm_keeps_invariants(flavour: str, resize: bool, seed: int) -> None:
    storm = Storm(flavour, seed, threads=1000, ops=12, resize=resize)
    storm.run()
    assert storm.violations == []
    assert storm.started >= 10_000 or storm.killed > 0
    # Every kind of fault really happened, and most work still got done.
    assert storm.killed > 0
    assert storm.timeouts > 0
    assert storm.create_errors > 0
    assert storm.completed > storm.started // 10
    pool, tracker = storm.pool, storm.tracker
    assert_settled(pool, tracker)
    assert tracker.max_alive <= max(storm.sizes_seen)
    if not resize:
        assert tracker.max_alive <= storm.max_size
    # Capacity is whole: max_size greenthreads can hold an item at once.
    held = [pool.get(block=False) for _ in range(pool.max_size)]
    for obj in held:
        pool.put(obj)
    pool.close()
    assert tracker.alive == 0


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("resize", [False, True], ids=["fixed", "resizing"])
def test_fault_storm_with_every_lifecycle_option(flavour: str, resize: bool) -> None:
    storm = Storm(flavour, 3, threads=1000, ops=12, resize=resize, lifecycle=True)
    storm.run()
    assert storm.violations == []
    pool, tracker = storm.pool, storm.tracker
    stats = pool.stats()
    # Every lifecycle path really ran, under fire.
    assert storm.killed > 0
    assert storm.timeouts > 0
    assert storm.checks_failed > 0
    assert storm.resets_failed > 0
    assert stats.disposed["check_failed"] > 0
    assert stats.disposed["reset_failed"] > 0
    assert stats.disposed["uses"] > 0
    assert stats.leaks > 0
    assert storm.completed > storm.started // 10
    assert_settled(pool, tracker)
    # Capacity is whole: max_size + max_overflow items can be held at once.
    held = [pool.get(block=False) for _ in range(capacity(pool))]
    for obj in held:
        pool.put(obj)
    upkeep = pool._upkeep
    pool.close()
    assert tracker.alive == 0
    eventlet.sleep(0)
    assert upkeep is None or upkeep.thread.dead


def test_storm_runs_ten_thousand_operations() -> None:
    storm = Storm("create-arg", 7, threads=1000, ops=12, resize=False)
    storm.run()
    # Killed workers skip the rest of their plan; the rest is still >= 10k.
    assert storm.started >= 10_000
    assert_settled(storm.pool, storm.tracker)


class RecordingQueue(GreenWaiterQueue):
    """The pool's waiter queue, noting which greenthread parks when."""

    def __init__(self) -> None:
        super().__init__()
        self.parked: list[Any] = []

    def park(self, timeout: Optional[float], abandon: Any, front: bool = False) -> Any:
        self.parked.append(getcurrent())
        return super().park(timeout, abandon, front)


class PoolMachine(RuleBasedStateMachine):
    """Random interleavings of waiters, puts, discards, kills and resizes.

    The main greenthread holds items; spawned waiters ask the pool and
    report back. After every step the bookkeeping invariants hold, and the
    waiters that had to park complete strictly in the order they parked
    (a greenthread arriving to spare capacity may be served at once), with
    one exception that is the pool's design: a shrinking resize() takes back
    only creation slots granted to waiters that have not run yet (newest
    first), never an item already handed over, so a waiter whose slot it
    took may come after those that had been handed an item by then.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tracker = Tracker()
        self.pool: Pool[Any] = Pool(max_size=2, create=self.tracker.make, dispose=self.tracker.dispose)
        self.queue = self.pool._waiters = RecordingQueue()
        self.held: list[Any] = []
        self.waiters: list[Any] = []
        self.served: list[Any] = []
        # id(greenthread whose slot a shrink took) -> ids of those that may
        # be served before it although they parked later (see above).
        self.may_precede: dict[int, set[int]] = {}

    def _waiter(self, timeout: Optional[float]) -> None:
        try:
            obj = self.pool.get(timeout=timeout)
        except (PoolTimeout, CreateFailed):
            return
        self.served.append(getcurrent())
        self.held.append(obj)

    @rule()
    def get_nowait(self) -> None:
        with contextlib.suppress(PoolTimeout, CreateFailed):
            self.held.append(self.pool.get(block=False))

    @rule(timeout=st.sampled_from([None, 60.0]))
    def spawn_waiter(self, timeout: Optional[float]) -> None:
        self.waiters.append(eventlet.spawn(self._waiter, timeout))

    @precondition(lambda self: len(self.queue) > 0)
    @rule(data=st.data())
    def expire_waiter(self, data: st.DataObject) -> None:
        # A deadline passing, as the hub would fire it, at a step hypothesis
        # chooses: wall-clock timeouts would make replays differ.
        record = data.draw(st.sampled_from(list(self.queue)))
        eventlet.hubs.get_hub().schedule_call_global(0, self.queue._expire, record)
        eventlet.sleep(0)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def put_one(self, data: st.DataObject) -> None:
        obj = self.held.pop(data.draw(st.integers(0, len(self.held) - 1)))
        self.pool.put(obj)

    @precondition(lambda self: self.held)
    @rule()
    def discard_one(self) -> None:
        self.pool.discard(self.held.pop())

    @precondition(lambda self: any(not w.dead for w in self.waiters))
    @rule(data=st.data(), with_timeout=st.booleans(), deferred=st.booleans())
    def interrupt_waiter(self, data: st.DataObject, with_timeout: bool, deferred: bool) -> None:
        live = [w for w in self.waiters if not w.dead]
        victim = data.draw(st.sampled_from(live))
        exc = eventlet.Timeout(None) if with_timeout else GreenletExit()
        if deferred:
            # Lands at the next hub turn: possibly after a grant, before the wake-up.
            eventlet.hubs.get_hub().schedule_call_global(0, self._throw, victim, exc)
        else:
            victim.kill(exc)

    @staticmethod
    def _throw(victim: Any, exc: BaseException) -> None:
        if not victim.dead:
            victim.throw(exc)

    @rule(size=st.integers(0, 4))
    def resize(self, size: int) -> None:
        in_transit = [w for w in self.queue._to_wake if w.state is _GRANTED]
        handed_items = {id(w.wake) for w in in_transit if type(w.value) is not Slot}
        self.pool.resize(size)
        for w in in_transit:
            if type(w.value) is Slot and w.value.revoked:
                self.may_precede.setdefault(id(w.wake), set()).update(handed_items)

    @rule(fail=st.booleans())
    def create_failures(self, fail: bool) -> None:
        self.tracker.fail_always = fail

    @rule(turns=st.integers(1, 3))
    def run_hub(self, turns: int) -> None:
        for _ in range(turns):
            eventlet.sleep(0)

    @invariant()
    def bookkeeping_holds(self) -> None:
        assert_invariants(self.pool, self.tracker)

    @invariant()
    def parked_waiters_served_in_arrival_order(self) -> None:
        # By first arrival: a waiter that had its turn (a creation slot
        # that a shrinking resize took back) waits again ahead of later ones.
        position: dict[int, int] = {}
        for i, g in enumerate(self.queue.parked):
            position.setdefault(id(g), i)
        order = [(position[id(g)], id(g)) for g in self.served if id(g) in position]
        for i, (first_parked, first) in enumerate(order):
            for later_parked, later in order[i + 1 :]:
                if later_parked < first_parked:  # served after one that parked after it
                    assert first in self.may_precede.get(later, ()), [p for p, _ in order]

    def teardown(self) -> None:
        with eventlet.Timeout(10):
            self.tracker.fail_always = False
            for w in self.waiters:
                w.kill()
            eventlet.sleep(0)
            for obj in self.held:
                self.pool.put(obj)
            self.held.clear()
            self.pool.resize(2)
            eventlet.sleep(0)
        assert_settled(self.pool, self.tracker)
        self.pool.close()
        assert self.tracker.alive == 0


TestPoolMachine = PoolMachine.TestCase
TestPoolMachine.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
