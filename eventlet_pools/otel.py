"""OpenTelemetry metrics for a pool: the semantic conventions for database
client connection pools, for every pool kind.

:func:`instrument` registers a pool with a meter provider (the global one
by default). From then on every collection reports, under the attribute
``db.client.connection.pool.name``:

- ``db.client.connection.count`` (``{connection}``): items by
  ``db.client.connection.state``, ``idle`` (free in the pool) or ``used``
  (checked out);
- ``db.client.connection.idle.min`` / ``idle.max``: ``min_size`` /
  ``max_size`` (items above ``max_size``, the overflow, are never kept idle);
- ``db.client.connection.max``: ``max_size`` plus ``max_overflow``;
- ``db.client.connection.pending_requests`` (``{request}``): callers waiting;
- ``db.client.connection.timeouts`` (``{timeout}``): gets that timed out,
  a running total that :meth:`~eventlet_pools.Pool.pop_stats` does not reset;

and records each of these as it happens, in seconds:

- ``db.client.connection.create_time``: what each ``create()`` took;
- ``db.client.connection.wait_time``: what each get() took to obtain an
  item (waiting in line, creating, checking);
- ``db.client.connection.use_time``: from each checkout to its put().

The three timings come from the pool's ``create``, ``checkout`` and
``checkin`` events (:mod:`eventlet_pools.events`), so an instrumented pool
keeps a record per item and takes its tracked get/put path, as it would with
a lifecycle option set.

What each kind reports:

- :class:`~eventlet_pools.Pool`, :class:`~eventlet_pools.TokenPool`, the
  variants, :class:`~eventlet_pools.ConnectionPool` and the pools of
  :mod:`eventlet_pools.db_pool`: everything above.
- :class:`~eventlet_pools.redis.RedisTokenPool`: what this process knows
  without a round trip to Redis: ``used`` (leases it holds), ``max``,
  ``pending_requests`` (its callers in the shared line), ``timeouts``, and
  the wait and use times. Idle slots and the other processes' holders live
  in Redis: ask ``free()`` / ``size()``.
- :class:`~eventlet_pools.WorkerPool` and
  :class:`~eventlet_pools.AsyncWorkerPool`: the workers, ``used`` running a
  task and ``idle``, ``idle.min`` / ``idle.max`` and ``max`` from
  ``min_workers`` / ``max_workers``, and ``pending_requests``: tasks queued.

Needs ``opentelemetry-api`` (the extra ``otel``, which brings the SDK too);
the rest of the package never imports it.
"""

from __future__ import annotations

import contextlib
import itertools
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Callable, Optional

try:
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Histogram, Meter, MeterProvider, Observation
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("eventlet_pools.otel needs OpenTelemetry: pip install 'eventlet_pools[otel]'") from exc

from eventlet_pools import __version__
from eventlet_pools.dbapi import ConnectionPool
from eventlet_pools.events import PoolEvent
from eventlet_pools.pool import Pool
from eventlet_pools.redis.pool import RedisTokenPool
from eventlet_pools.workers import AsyncWorkerPool, WorkerPool

__all__ = ["METRIC_NAMES", "POOL_NAME", "STATE", "Instrumentation", "instrument"]

#: The attribute naming the pool on every data point.
POOL_NAME = "db.client.connection.pool.name"
#: The attribute of ``db.client.connection.count``: ``idle`` or ``used``.
STATE = "db.client.connection.state"

#: Every metric :func:`instrument` reports.
METRIC_NAMES = (
    "db.client.connection.count",
    "db.client.connection.idle.max",
    "db.client.connection.idle.min",
    "db.client.connection.max",
    "db.client.connection.pending_requests",
    "db.client.connection.timeouts",
    "db.client.connection.create_time",
    "db.client.connection.wait_time",
    "db.client.connection.use_time",
)


@dataclass(frozen=True)
class _Reading:
    """A pool's figures at one collection (None: the kind does not know it)."""

    idle: Optional[int]
    used: int
    idle_min: Optional[int]
    idle_max: Optional[int]
    max: int
    pending: int
    timeouts: Optional[int]


def _read_pool(pool: Pool[Any]) -> _Reading:
    # Plain reads of the pool's fields, no lock and no stats(): a reader
    # collects from its own thread while greenthreads run the pool.
    free = len(pool._free)
    return _Reading(
        idle=free,
        used=max(0, pool._size - free - pool._creating),
        idle_min=pool.min_size,
        idle_max=pool._max_size,
        max=pool._max_size + pool._opts.max_overflow,
        pending=len(pool._waiters),
        timeouts=pool.timeouts_total(),
    )


def _read_redis(pool: RedisTokenPool) -> _Reading:
    return _Reading(
        idle=None,
        used=len(pool._held),
        idle_min=None,
        idle_max=None,
        max=pool.max_size,
        pending=len(pool._local),
        timeouts=pool._timeouts,
    )


def _read_workers(pool: Any) -> _Reading:
    # A WorkerPool, or an AsyncWorkerPool (its waiting() counts the tasks
    # waiting for room too); no stats(), which sorts the recent waits.
    core: WorkerPool = getattr(pool, "_core", pool)
    return _Reading(
        idle=len(core._idle),
        used=pool.running(),
        idle_min=core.min_workers,
        idle_max=core.max_workers,
        max=core.max_workers,
        pending=pool.waiting(),
        timeouts=None,
    )


class Instrumentation:
    """A pool registered with a meter provider by :func:`instrument`.

    Attributes:
      name: the ``db.client.connection.pool.name`` of its data points.
      pool: the pool (None once it was garbage collected).
    """

    def __init__(
        self, instruments: _Instruments, pool: Any, name: str, target: Any, read: Callable[[Any], _Reading]
    ) -> None:
        self.name = name
        self._instruments = instruments
        self._pool_ref = weakref.ref(pool)
        # What is read (a ConnectionPool's Pool, an AsyncWorkerPool's core).
        self._target_ref = weakref.ref(target)
        self._read = read
        self._attributes = {POOL_NAME: name}
        self._active = True

    @property
    def pool(self) -> Any:
        return self._pool_ref()

    @property
    def active(self) -> bool:
        """True until :meth:`uninstrument`."""
        return self._active

    def uninstrument(self) -> None:
        """Stop reporting this pool (its listeners go, its figures stop);
        idempotent."""
        if not self._active:
            return
        self._active = False
        if self._instruments.sources.get(self.name) is self:
            del self._instruments.sources[self.name]
        target = self._target_ref()
        if isinstance(target, Pool):
            for event, listener in self._events():
                with contextlib.suppress(ValueError):  # (removed by hand already)
                    target.unlisten(event, listener)
        elif isinstance(target, RedisTokenPool):
            target._observers = tuple(observer for observer in target._observers if observer is not self)

    def _events(self) -> tuple[tuple[str, Callable[[PoolEvent], None]], ...]:
        return (("create", self._on_create), ("checkout", self._on_checkout), ("checkin", self._on_checkin))

    # The event listeners: one histogram value each.
    def _on_create(self, event: PoolEvent) -> None:
        if event.took is not None:
            self._instruments.create_time.record(event.took, self._attributes)

    def _on_checkout(self, event: PoolEvent) -> None:
        if event.waited is not None:
            self._instruments.wait_time.record(event.waited, self._attributes)

    def _on_checkin(self, event: PoolEvent) -> None:
        if event.held is not None:
            self._instruments.use_time.record(event.held, self._attributes)

    # RedisTokenPool's observer protocol.
    def _checked_out(self, waited: float) -> None:
        self._instruments.wait_time.record(waited, self._attributes)

    def _checked_in(self, held: float) -> None:
        self._instruments.use_time.record(held, self._attributes)

    def _live(self) -> bool:
        """Reporting: not uninstrumented, and its pool not collected."""
        return self._active and self._target_ref() is not None

    def _reading(self) -> Optional[_Reading]:
        target = self._target_ref()
        return self._read(target) if self._active and target is not None else None

    def __repr__(self) -> str:
        state = "" if self._active else " uninstrumented"
        return f"<Instrumentation {self.name!r}{state} of {self.pool!r}>"


class _Instruments:
    """The instruments of one meter, made once, reading every registered pool."""

    def __init__(self, meter: Meter) -> None:
        self.sources: dict[str, Instrumentation] = {}
        prefix = "db.client.connection."
        connections = "{connection}"
        meter.create_observable_up_down_counter(
            prefix + "count",
            [self._observe_count],
            unit=connections,
            description="Items of the pool, idle (free in it) or used (checked out).",
        )
        for suffix, field, description in (
            ("idle.max", "idle_max", "Most items the pool keeps when they are not in use (max_size)."),
            ("idle.min", "idle_min", "Items the pool keeps open even when idle (min_size)."),
            ("max", "max", "Most items alive at once (max_size plus max_overflow)."),
        ):
            meter.create_observable_up_down_counter(
                prefix + suffix, [self._observer(field)], unit=connections, description=description
            )
        meter.create_observable_up_down_counter(
            prefix + "pending_requests",
            [self._observer("pending")],
            unit="{request}",
            description="Callers waiting in line for an item.",
        )
        meter.create_observable_counter(
            prefix + "timeouts",
            [self._observer("timeouts")],
            unit="{timeout}",
            description="Gets that gave up: no item came within their timeout.",
        )
        self.create_time: Histogram = meter.create_histogram(
            prefix + "create_time", unit="s", description="Seconds each create() took."
        )
        self.wait_time: Histogram = meter.create_histogram(
            prefix + "wait_time",
            unit="s",
            description="Seconds each get() took to obtain an item, waiting and creating included.",
        )
        self.use_time: Histogram = meter.create_histogram(
            prefix + "use_time",
            unit="s",
            description="Seconds from each checkout to its put().",
        )

    def _readings(self) -> Iterable[tuple[Instrumentation, _Reading]]:
        for source in list(self.sources.values()):
            reading = source._reading()
            if reading is not None:
                yield source, reading

    def _observe_count(self, _options: CallbackOptions) -> Iterable[Observation]:
        for source, reading in self._readings():
            name = source.name
            if reading.idle is not None:
                yield Observation(reading.idle, {POOL_NAME: name, STATE: "idle"})
            yield Observation(reading.used, {POOL_NAME: name, STATE: "used"})

    def _observer(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            for source, reading in self._readings():
                value = getattr(reading, field)
                if value is not None:
                    yield Observation(value, {POOL_NAME: source.name})

        return observe


# One set of instruments per meter provider (creating an observable
# instrument twice on one meter would report it twice).
_by_provider: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()
_numbers = itertools.count(1)


def instrument(
    pool: Any, meter_provider: Optional[MeterProvider] = None, *, name: Optional[str] = None
) -> Instrumentation:
    """Report ``pool``'s metrics, by the OpenTelemetry semantic conventions
    for connection pools, through ``meter_provider`` (the global one when
    None). Returns the registration; its :meth:`~Instrumentation.uninstrument`
    stops it.

    Args:
      pool: any pool of this package (see the module's docstring for what
        each kind reports).
      meter_provider: an OpenTelemetry ``MeterProvider``.
      name: the pool's ``db.client.connection.pool.name``: by default its
        ``name=``, a Redis pool's key, or the class name and a number.

    Raises:
      TypeError: ``pool`` is not a pool of this package, ``meter_provider``
        has no ``get_meter``, or ``name`` is not a str.
      ValueError: ``name`` is empty, or another pool is reported under the
        same name through this provider (their figures would merge).
    """
    inner: Any = pool.pool if isinstance(pool, ConnectionPool) else pool
    read: Callable[[Any], _Reading]
    default: Optional[str] = None
    if isinstance(inner, Pool):
        read, default = _read_pool, inner.name
    elif isinstance(inner, RedisTokenPool):
        read, default = _read_redis, inner.key
    elif isinstance(inner, (WorkerPool, AsyncWorkerPool)):
        read = _read_workers
    else:
        raise TypeError(f"instrument() takes a pool of eventlet_pools, got {pool!r}")
    if name is None:
        name = default if default is not None else f"{type(pool).__name__}-{next(_numbers)}"
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    if not name:
        raise ValueError("name must not be empty")
    provider: Any = metrics.get_meter_provider() if meter_provider is None else meter_provider
    if not callable(getattr(provider, "get_meter", None)):
        raise TypeError(f"meter_provider must be an OpenTelemetry MeterProvider, got {meter_provider!r}")
    instruments = _by_provider.get(provider)
    if instruments is None:
        instruments = _by_provider[provider] = _Instruments(provider.get_meter("eventlet_pools", __version__))
    taken = instruments.sources.get(name)
    if taken is not None and taken._live():
        raise ValueError(f"a pool is reported as {name!r} already ({taken.pool!r}); pass another name=")
    registration = Instrumentation(instruments, pool, name, inner, read)
    if isinstance(inner, Pool):
        for event, listener in registration._events():
            inner.listen(event, listener)
    elif isinstance(inner, RedisTokenPool):
        inner._observers = (*inner._observers, registration)
    instruments.sources[name] = registration
    return registration
