"""WorkerPool's contract on eventlet, gevent and threads: results and
exceptions in futures, priority then FIFO, the bounded queue (submit waits,
submit_nowait raises), map/imap order and strict lengths, drain, shutdown
with and without cancelling, resize up and down while busy, scaling,
stopped producers, GreenPool's names, and a storm of 10,000 tasks with
failures and cancellations ending with every future resolved and no worker
left."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import random
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlet_pools import PoolClosed, PoolFull, PoolTimeout, WorkerPool
from tests.conftest import Gauge, Runner, wait_all

WORKER_BACKENDS = ("eventlet", "gevent", "threads")


@pytest.fixture(params=WORKER_BACKENDS)
def runner(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


class Gate:
    """Tasks wait at it until it opens (yielding as the backend does)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.opened = False
        self.arrived = 0
        self._lock = threading.Lock()

    def wait(self, value: Any = None) -> Any:
        with self._lock:
            self.arrived += 1
        self.runner.until(lambda: self.opened, seconds=30)
        return value

    def open(self) -> None:
        self.opened = True


def pool_for(runner: Runner, *args: Any, **kwargs: Any) -> WorkerPool:
    return WorkerPool(*args, backend=runner.backend, **kwargs)


def test_results_and_exceptions_go_to_futures(runner: Runner) -> None:
    pool = pool_for(runner, 3)
    futures = [pool.submit(divmod, 7, n) for n in (1, 2, 0, 3)]
    assert futures[0].result(10) == (7, 0)
    assert futures[1].wait(10) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        futures[2].result(10)
    assert isinstance(futures[2].exception(10), ZeroDivisionError)
    assert futures[3].result(10) == (2, 1)
    assert pool.submit(lambda: "still working").result(10) == "still working"
    pool.drain(10)  # (a future is done a moment before its task is counted)
    stats = pool.stats()
    assert (stats.completed, stats.failed, stats.pending, stats.running) == (4, 1, 0, 0)
    assert json.loads(json.dumps(stats.as_dict()))["failed"] == 1
    pool.shutdown(timeout=10)
    assert pool.stats().workers == 0


def test_lower_priority_numbers_run_first_then_arrival_order(runner: Runner) -> None:
    pool = pool_for(runner, 1)
    gate = Gate(runner)
    order: list[str] = []
    pool.submit(gate.wait)
    runner.until(lambda: gate.arrived == 1)  # the only worker is busy
    for name, priority in [("a", 5), ("b", 1), ("c", 3), ("d", 1), ("e", 0), ("f", 5)]:
        pool.submit(order.append, name, priority=priority)
    assert pool.waiting() == 6
    gate.open()
    pool.drain(10)
    assert order == ["e", "b", "d", "c", "a", "f"]
    pool.shutdown(timeout=10)


def test_bounded_queue_submit_waits_and_submit_nowait_raises(runner: Runner) -> None:
    pool = pool_for(runner, 1, qsize=2)
    gate = Gate(runner)
    order: list[int] = []
    pool.submit(gate.wait)
    runner.until(lambda: gate.arrived == 1)
    pool.submit(order.append, 1)
    pool.submit_nowait(order.append, 2)
    with pytest.raises(PoolFull):
        pool.submit_nowait(order.append, 99)
    producer = runner.spawn(pool.submit, order.append, 3)
    runner.until(lambda: pool.waiting() == 3)  # two queued, one producer in line
    with pytest.raises(PoolFull):  # nobody jumps the producer in line
        pool.submit_nowait(order.append, 99)
    gate.open()
    producer.wait().result(10)
    pool.drain(10)
    assert order == [1, 2, 3]
    pool.shutdown(timeout=10)


def test_qsize_zero_waits_for_a_free_worker_as_greenpool_spawn(runner: Runner) -> None:
    pool = pool_for(runner, 2, qsize=0)
    gate = Gate(runner)
    first = [pool.spawn(gate.wait, n) for n in range(2)]
    runner.until(lambda: gate.arrived == 2)
    assert pool.free() == 0
    with pytest.raises(PoolFull):
        pool.submit_nowait(gate.wait)
    late = runner.spawn(pool.spawn, lambda: "late")
    runner.until(lambda: pool.waiting() == 1)
    gate.open()
    assert [f.wait(10) for f in first] == [0, 1]
    assert late.wait().wait(10) == "late"
    pool.waitall()
    assert (pool.running(), pool.waiting(), pool.free()) == (0, 0, 2)
    pool.shutdown(timeout=10)


def test_map_imap_starmap_keep_input_order(runner: Runner) -> None:
    pool = pool_for(runner, 4)
    rng = random.Random(3)
    delays = [rng.choice([0, 0, 1]) for _ in range(60)]

    def echo(n: int, delay: int) -> int:
        for _ in range(delay):
            runner.yield_()
        return n

    assert pool.map(echo, range(60), delays) == list(range(60))
    assert pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
    assert list(pool.imap(str, range(3))) == ["0", "1", "2"]
    endless = pool.imap(lambda n: n * n, itertools.count())  # lazy: endless input
    assert list(itertools.islice(endless, 30)) == [n * n for n in range(30)]
    endless.close()  # (calls submitted ahead are cancelled)
    with pytest.raises(ValueError, match="different lengths"):
        pool.map(echo, range(3), [0, 0], strict=True)
    assert pool.map(echo, range(3), [0, 0]) == [0, 1]  # zip semantics without strict
    with pytest.raises(ZeroDivisionError):
        pool.map(lambda n: 1 // n, [1, 0, 2])
    pool.drain(10)
    pool.shutdown(timeout=10)


def test_drain_waits_for_everything_and_times_out(runner: Runner) -> None:
    pool = pool_for(runner, 2)
    gate = Gate(runner)
    futures = [pool.submit(gate.wait, n) for n in range(5)]
    with pytest.raises(PoolTimeout):
        pool.drain(0.01)
    gate.open()
    pool.drain(10)
    assert all(f.done() for f in futures)
    assert pool.stats().pending == 0
    pool.shutdown(timeout=10)


@pytest.mark.parametrize("cancel", [False, True], ids=["run-pending", "cancel-pending"])
def test_shutdown_runs_or_cancels_pending_and_ends_every_worker(runner: Runner, cancel: bool) -> None:
    pool = pool_for(runner, 1)
    gate = Gate(runner)
    running = pool.submit(gate.wait, "ran")
    runner.until(lambda: gate.arrived == 1)
    queued = [pool.submit(lambda n: n, n) for n in range(3)]
    waiter = runner.spawn(pool.shutdown, cancel, 10)
    runner.until(lambda: pool.closed)
    with pytest.raises(PoolClosed):
        pool.submit(print)
    gate.open()
    waiter.wait()
    assert running.result(10) == "ran"
    if cancel:
        assert all(f.cancelled() for f in queued)
        assert pool.stats().cancelled == 3
    else:
        assert [f.result(10) for f in queued] == [0, 1, 2]
    assert pool.stats().workers == 0


def test_resize_up_and_down_while_busy(runner: Runner) -> None:
    pool = pool_for(runner, 1)
    gate = Gate(runner)
    gauge = Gauge()

    def task() -> None:
        gauge.enter()
        gate.wait()
        gauge.leave()

    futures = [pool.submit(task) for _ in range(6)]
    runner.until(lambda: gauge.active == 1)
    pool.resize(3)  # GreenPool's form: max_workers
    runner.until(lambda: gauge.active == 3)
    pool.resize(0, 2)  # (min_workers, max_workers)
    assert (pool.min_workers, pool.max_workers) == (0, 2)
    gate.open()
    for future in futures:
        future.result(10)
    assert gauge.most == 3
    runner.until(lambda: pool.stats().workers <= 2)  # the busy extra left after its task
    gauge.most = 0
    gate.opened = False
    more = [pool.submit(task) for _ in range(4)]
    runner.until(lambda: gauge.active == 2)
    gate.open()
    for future in more:
        future.result(10)
    assert gauge.most == 2
    with pytest.raises(ValueError, match="must not exceed"):
        pool.resize(3, 2)
    with pytest.raises(TypeError):
        pool.resize(1, 2, max_workers=3)
    pool.shutdown(timeout=10)


def test_scaling_starts_workers_on_demand_and_retires_idle_ones(runner: Runner) -> None:
    pool = pool_for(runner, 4, min_workers=1, idle_timeout=0.05)
    assert pool.stats().workers == 1
    gate = Gate(runner)
    futures = [pool.submit(gate.wait) for _ in range(4)]
    runner.until(lambda: gate.arrived == 4)
    assert pool.stats().workers == 4
    gate.open()
    for future in futures:
        future.result(10)
    runner.until(lambda: pool.stats().workers == 1)  # the extra three went idle, then away
    fixed = pool_for(runner, 3, scaling=False)
    assert fixed.stats().workers == 3
    fixed.shutdown(timeout=10)
    pool.shutdown(timeout=10)


@pytest.mark.parametrize("backend", ["eventlet", "gevent"])  # (threads cannot be stopped)
def test_stopped_producers_leave_the_line_and_pass_their_room_on(backend: str) -> None:
    runner = Runner(backend)
    pool = pool_for(runner, 1, qsize=0)
    gate = Gate(runner)
    pool.submit(gate.wait)
    runner.until(lambda: gate.arrived == 1)
    doomed = runner.spawn(pool.submit, lambda: "doomed")
    runner.until(lambda: pool.waiting() == 1)
    doomed.stop()
    wait_all([doomed])
    assert pool.waiting() == 0
    granted = runner.spawn(pool.submit, lambda: "granted")
    heir = runner.spawn(pool.submit, lambda: "heir")
    runner.until(lambda: pool.waiting() == 2)
    pool.resize(2)  # room for one: granted to the first producer...
    granted.stop()  # ...which is stopped before it used it: it passes on
    wait_all([granted])
    assert heir.wait().result(10) == "heir"
    gate.open()
    pool.drain(10)
    assert pool.stats().completed == 2
    pool.shutdown(timeout=10)


def test_spawn_n_logs_what_raises_and_greenpool_counts(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    pool = pool_for(runner, 2)
    gate = Gate(runner)
    seen: list[int] = []
    pool.spawn_n(seen.append, 1)
    pool.spawn_n(lambda: 1 // 0)
    pool.waitall()
    assert seen == [1]
    assert "ZeroDivisionError" in caplog.text
    pool.spawn(gate.wait)
    runner.until(lambda: gate.arrived == 1)
    assert (pool.running(), pool.free()) == (1, 1)
    gate.open()
    pool.waitall()
    assert (pool.running(), pool.free(), pool.waiting()) == (0, 2, 0)
    pool.shutdown(timeout=10)


def test_bad_configuration_and_calls_are_refused(runner: Runner) -> None:
    cases: list[tuple[dict[str, Any], type[Exception]]] = [
        ({"max_workers": 0}, ValueError),
        ({"max_workers": 2, "min_workers": 3}, ValueError),
        ({"max_workers": 1.5}, TypeError),
        ({"qsize": -1}, ValueError),
        ({"scaling": "yes"}, TypeError),
        ({"idle_timeout": 0}, ValueError),
    ]
    for kwargs, error in cases:
        with pytest.raises(error):
            pool_for(runner, **kwargs)
    with pytest.raises(ValueError, match="backend must be one of"):
        WorkerPool(2, backend="fibers")
    pool = pool_for(runner, 1)
    with pytest.raises(TypeError, match="callable"):
        pool.submit(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="priority"):
        pool.submit(print, priority="high")  # type: ignore[arg-type]
    pool.shutdown(timeout=10)


@pytest.mark.parametrize(("seed", "qsize"), [(1, 50), (2, None)], ids=["bounded", "unbounded"])
def test_a_storm_of_tasks_with_failures_and_cancellations(runner: Runner, seed: int, qsize: Any) -> None:
    rng = random.Random(seed)
    total = 10_000
    pool = pool_for(runner, 8, qsize=qsize, min_workers=2, idle_timeout=0.01)
    producers = 4
    plans = [[rng.random() for _ in range(total // producers)] for _ in range(producers)]
    futures: list[concurrent.futures.Future[Any]] = []
    lock = threading.Lock()

    def task(roll: float) -> float:
        if roll < 0.1:
            raise RuntimeError("task failed")
        if roll < 0.2:
            runner.yield_()
        return roll

    def produce(plan: list[float]) -> None:
        for n, roll in enumerate(plan):
            future = pool.submit(task, roll, priority=int(roll * 3))
            with lock:
                futures.append(future)
            if roll > 0.9:
                future.cancel()  # queued ones leave the queue; running ones go on
            if n % 50 == 0:
                pool.resize(rng.randint(1, 8))

    wait_all([runner.spawn(produce, plan) for plan in plans])
    pool.drain(60)
    assert len(futures) == total
    assert all(f.done() for f in futures)
    done = [f for f in futures if not f.cancelled()]
    failed = [f for f in done if f.exception() is not None]
    stats = pool.stats()
    assert stats.failed == len(failed)
    assert stats.completed == len(done) - len(failed)
    assert stats.completed + stats.failed + stats.cancelled == total
    assert (stats.pending, stats.running) == (0, 0)
    pool.shutdown(timeout=30)
    assert pool.stats().workers == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(st.tuples(st.integers(-3, 3), st.booleans()), min_size=1, max_size=40),
    workers=st.integers(1, 3),
)
def test_property_queued_tasks_run_by_priority_then_arrival(runner: Runner, plan: Any, workers: int) -> None:
    # Every worker is held at a gate; the plan's tasks queue up, some are
    # cancelled; once the gate opens, those left start in (priority,
    # arrival) order (one worker: exactly; more: each starts no later than
    # any task behind it), and every future ends resolved.
    pool = pool_for(runner, workers)
    gate = Gate(runner)
    holders = [pool.submit(gate.wait) for _ in range(workers)]
    runner.until(lambda: gate.arrived == workers)
    started: list[int] = []
    lock = threading.Lock()

    def record(index: int) -> int:
        with lock:
            started.append(index)
        return index

    futures = [pool.submit(record, index, priority=priority) for index, (priority, _) in enumerate(plan)]
    for future, (_, cancel) in zip(futures, plan):
        if cancel:
            assert future.cancel()
    gate.open()
    for holder in holders:
        holder.result(10)
    pool.drain(10)
    kept = [index for index, (_, cancel) in enumerate(plan) if not cancel]
    expected = sorted(kept, key=lambda index: (plan[index][0], index))
    assert sorted(started) == kept
    if workers == 1:
        assert started == expected
    else:  # started in order up to the workers' own interleaving
        rank = {index: position for position, index in enumerate(expected)}
        for position, index in enumerate(started):
            assert rank[index] <= position + workers - 1
    assert all(f.cancelled() for f, (_, c) in zip(futures, plan) if c)
    assert [f.result(0) for f, (_, c) in zip(futures, plan) if not c] == kept
    stats = pool.stats()
    assert stats.cancelled == sum(1 for _, c in plan if c)
    assert (stats.pending, stats.running) == (0, 0)
    pool.shutdown(timeout=10)
