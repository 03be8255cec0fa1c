"""eventlet_pools.otel: the connection-pool semantic conventions, read with
the OpenTelemetry SDK's in-memory reader, for every pool kind on every
backend."""

from __future__ import annotations

import asyncio
import functools
import gc
import sqlite3
import threading
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from eventlet_pools import AsyncWorkerPool, ConnectionPool, Pool, PoolTimeout, StaticPool, WorkerPool, otel
from eventlet_pools.redis import RedisTokenPool
from eventlet_pools.redis.testing import RedisServer
from tests.conftest import Runner

redis = pytest.importorskip("redis")

Points = dict[tuple[str, frozenset[tuple[str, Any]]], Any]


class Metrics:
    """A meter provider with an in-memory reader, read as a dict:
    (metric name, attributes) -> value, or (count, sum) for a histogram."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def collect(self, pool_name: str) -> Points:
        points: Points = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                if scope.scope.name != "eventlet_pools":
                    continue  # (some SDK versions report metrics of their own)
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        if attributes.pop(otel.POOL_NAME) != pool_name:
                            continue
                        key = (
                            metric.name.removeprefix("db.client.connection."),
                            frozenset(attributes.items()),
                        )
                        if isinstance(point, HistogramDataPoint):
                            points[key] = (point.count, point.sum)
                        else:
                            points[key] = getattr(point, "value", None)
        return points


def value(points: Points, name: str, **attributes: str) -> Any:
    return points.get((name, frozenset(attributes.items())))


def count_of(points: Points, name: str) -> int:
    found = value(points, name)
    return 0 if found is None else int(found[0])


def test_a_pool_reports_every_metric_on_every_backend(runner: Runner) -> None:
    metrics = Metrics()

    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2, name="orders")
        registration = otel.instrument(pool, metrics.provider)
        assert registration.name == "orders"
        assert registration.pool is pool
        a, b = pool.get(), pool.get()
        with pytest.raises(PoolTimeout):
            pool.get(False)
        waiter = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 1)
        seen = metrics.collect("orders")
        assert value(seen, "count", **{otel.STATE: "used"}) == 2
        assert value(seen, "count", **{otel.STATE: "idle"}) == 0
        assert value(seen, "pending_requests") == 1
        assert value(seen, "timeouts") == 1
        assert (value(seen, "max"), value(seen, "idle.max"), value(seen, "idle.min")) == (2, 2, 0)
        assert count_of(seen, "create_time") == 2
        assert count_of(seen, "wait_time") == 2  # the waiter has nothing yet
        assert count_of(seen, "use_time") == 0
        pool.put(a)
        pool.put(waiter.wait())
        pool.put(b)
        pool.pop_stats()  # per-interval stats start again; the total does not
        seen = metrics.collect("orders")
        assert value(seen, "count", **{otel.STATE: "used"}) == 0
        assert value(seen, "count", **{otel.STATE: "idle"}) == 2
        assert value(seen, "pending_requests") == 0
        assert value(seen, "timeouts") == 1
        assert count_of(seen, "wait_time") == 3
        assert count_of(seen, "use_time") == 3
        assert count_of(seen, "create_time") == 2
        assert {f"db.client.connection.{name}" for name, _ in seen} == set(otel.METRIC_NAMES)
        waited, used = value(seen, "wait_time")[1], value(seen, "use_time")[1]
        assert waited >= 0
        assert used >= 0
        registration.uninstrument()
        registration.uninstrument()  # idempotent
        assert not registration.active
        assert pool.get() is not None  # listeners gone: the pool works on
        assert metrics.collect("orders").keys() <= {
            (name, attributes)
            for name, attributes in seen
            if name in ("create_time", "wait_time", "use_time")  # (histograms keep their sums)
        }
        runner.check(pool, tracker)

    runner.run(body)


def test_connection_pool_and_variants_report_under_their_names() -> None:
    metrics = Metrics()
    connections = ConnectionPool(functools.partial(sqlite3.connect, ":memory:"), max_size=3, name="db")
    otel.instrument(connections, metrics.provider)
    with connections.connection() as conn:
        conn.execute("SELECT 1")
        seen = metrics.collect("db")
        assert value(seen, "count", **{otel.STATE: "used"}) == 1
    seen = metrics.collect("db")
    assert value(seen, "count", **{otel.STATE: "idle"}) == 1
    assert (count_of(seen, "create_time"), count_of(seen, "wait_time"), count_of(seen, "use_time")) == (
        1,
        1,
        1,
    )
    assert value(seen, "max") == 3
    connections.close()

    shared: StaticPool[object] = StaticPool(object)
    registration = otel.instrument(shared, metrics.provider)
    assert registration.name.startswith("StaticPool-")
    item = shared.get()
    assert shared.get() is item
    seen = metrics.collect(registration.name)
    assert count_of(seen, "wait_time") == 2
    assert count_of(seen, "create_time") == 1
    shared.put(item)
    shared.put(item)
    shared.close()


def test_redis_pool_reports_what_this_process_knows() -> None:
    metrics = Metrics()
    with RedisServer() as server:
        client = redis.Redis(host=server.host, port=server.port)
        pool = RedisTokenPool(client, "otel-limit", max_size=2, backend="threads")
        registration = otel.instrument(pool, metrics.provider)
        assert registration.name == "otel-limit"
        first, second = pool.get(), pool.get()
        with pytest.raises(PoolTimeout):
            pool.get(False)
        seen = metrics.collect("otel-limit")
        assert value(seen, "count", **{otel.STATE: "used"}) == 2
        assert value(seen, "count", **{otel.STATE: "idle"}) is None  # in Redis, not here
        assert (value(seen, "max"), value(seen, "pending_requests"), value(seen, "timeouts")) == (2, 0, 1)
        pool.put(first)
        pool.put(second)
        seen = metrics.collect("otel-limit")
        assert value(seen, "count", **{otel.STATE: "used"}) == 0
        assert (count_of(seen, "wait_time"), count_of(seen, "use_time")) == (2, 2)
        registration.uninstrument()
        with pool.item():
            pass
        assert pool._observers == ()
        pool.close()
        client.close()


def test_worker_pool_reports_its_workers() -> None:
    metrics = Metrics()
    release = threading.Event()
    with WorkerPool(2, backend="threads") as workers:
        otel.instrument(workers, metrics.provider, name="jobs")
        futures = [workers.submit(release.wait, 30) for _ in range(3)]
        while workers.waiting() != 1 or workers.running() != 2:
            release.wait(0.001)  # a sequence point: both workers busy, one queued
        seen = metrics.collect("jobs")
        assert value(seen, "count", **{otel.STATE: "used"}) == 2
        assert value(seen, "count", **{otel.STATE: "idle"}) == 0
        assert (value(seen, "pending_requests"), value(seen, "max")) == (1, 2)
        assert value(seen, "timeouts") is None
        release.set()
        assert [future.result(30) for future in futures] == [True] * 3


def test_bad_input_is_refused_and_a_collected_pool_frees_its_name() -> None:
    metrics = Metrics()
    with pytest.raises(TypeError, match="pool of eventlet_pools"):
        otel.instrument(object(), metrics.provider)
    pool: Pool[object] = Pool(max_size=1, create=object, name="one")
    with pytest.raises(TypeError, match="MeterProvider"):
        otel.instrument(pool, object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        otel.instrument(pool, metrics.provider, name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        otel.instrument(pool, metrics.provider, name="")
    assert pool.stats().gets == 0
    assert not pool._listeners
    otel.instrument(pool, metrics.provider)
    other: Pool[object] = Pool(max_size=1, create=object, name="one")
    with pytest.raises(ValueError, match="reported as 'one' already"):
        otel.instrument(other, metrics.provider)
    assert not other._listeners
    assert value(metrics.collect("one"), "max") == 1
    del pool
    gc.collect()
    assert value(metrics.collect("one"), "max") is None  # gone: nothing reported
    otel.instrument(other, metrics.provider)  # the name is free again
    assert value(metrics.collect("one"), "max") == 1


def test_async_worker_pool_counts_calls_waiting_for_room() -> None:
    metrics = Metrics()
    release = threading.Event()

    async def main() -> None:
        async with AsyncWorkerPool(1, qsize=0) as workers:
            otel.instrument(workers, metrics.provider, name="calls")
            first = asyncio.ensure_future(workers.complete(release.wait, 30))
            second = asyncio.ensure_future(workers.complete(release.wait, 30))
            while workers.running() != 1 or workers.waiting() != 1:
                await asyncio.sleep(0.001)  # a sequence point: one runs, one waits for room
            seen = metrics.collect("calls")
            assert value(seen, "count", **{otel.STATE: "used"}) == 1
            assert value(seen, "pending_requests") == 1
            assert (value(seen, "max"), value(seen, "idle.max")) == (1, 1)
            release.set()
            assert list(await asyncio.gather(first, second)) == [True, True]

    asyncio.run(main())
