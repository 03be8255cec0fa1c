"""Events and statistics of a pool: listen/unlisten, stats, status."""

from __future__ import annotations

from typing import Any, TypeVar

from eventlet_pools._base import PoolBase, guarded
from eventlet_pools.events import Listener, PoolEvent, check_listener, deliver
from eventlet_pools.stats import Counters, PoolConfig, PoolStats, percentile

__all__ = ["Observed"]

T = TypeVar("T")


class Observed(PoolBase[T]):
    """Pool's events and statistics (a part of Pool)."""

    @guarded
    def listen(self, event: str, fn: Listener) -> None:
        """Call ``fn(PoolEvent)`` each time ``event`` happens; idempotent.

        Events: ``create``, ``create_failed``, ``checkout``, ``checkin``,
        ``dispose`` (with a ``reason``), ``leak``. See :mod:`eventlet_pools.events`
        for when each fires and what a raising listener does. Listening to
        ``checkout`` or ``checkin`` makes every get/put take the slow path.

        Raises:
          ValueError: an unknown event name.
          TypeError: ``fn`` is not callable.
        """
        name = check_listener(event, fn)
        current = self._listeners.get(name, ())
        if fn not in current:
            self._listeners[name] = (*current, fn)
        self._set_mode()

    @guarded
    def unlisten(self, event: str, fn: Listener) -> None:
        """Stop calling ``fn`` for ``event``.

        Raises:
          ValueError: an unknown event name, or ``fn`` is not listening to it.
        """
        name = check_listener(event, fn)
        current = self._listeners.get(name, ())
        if fn not in current:
            raise ValueError(f"{fn!r} is not listening to {name!r} events of {self!r}")
        rest = tuple(other for other in current if other != fn)
        if rest:
            self._listeners[name] = rest
        else:
            del self._listeners[name]
        self._set_mode()

    @guarded
    def stats(self) -> PoolStats:
        """A frozen snapshot of sizes, counters and recent wait times."""
        counts = self._counts
        waits = sorted(counts.wait_times)
        return PoolStats(
            name=self._name,
            config=PoolConfig(
                min_size=self.min_size,
                max_size=self._max_size,
                timeout=self._timeout,
                max_waiting=self._max_waiting,
                **self._opts.snapshot(),
            ),
            closed=self._closed,
            size=self._size,
            free_items=len(self._free),
            free=self.free(),
            checked_out=self._size - len(self._free) - self._creating,
            creating=self._creating,
            waiting=len(self._waiters),
            gets=self._gets,
            waits=counts.waits,
            timeouts=counts.timeouts,
            created=counts.created,
            create_errors=counts.create_errors,
            disposed=dict(counts.disposed),
            checks=counts.checks,
            checks_failed=counts.checks_failed,
            leaks=counts.leaks,
            reclaimed=counts.reclaimed,
            rejected=counts.rejected,
            wait_p50=percentile(waits, 0.50),
            wait_p99=percentile(waits, 0.99),
            wait_max=waits[-1] if waits else None,
        )

    def pop_stats(self) -> PoolStats:
        """:meth:`stats`, and start the counters and wait times again from
        zero: a scraper calling it every interval sees per-interval figures
        (sizes are the current ones either way)."""
        with self._guard:
            snapshot = self.stats()
            self._timeouts_before += snapshot.timeouts
            self._counts = Counters()
            self._gets = 0
        return snapshot

    def timeouts_total(self) -> int:
        """Gets that timed out since the pool was made: unlike
        ``stats().timeouts``, never started again by :meth:`pop_stats` (a
        running total for a metrics counter)."""
        return self._timeouts_before + self._counts.timeouts

    def status(self) -> str:
        """One human-readable line: sizes, the main counters, recent waits."""
        s = self.stats()
        waits = (
            f"wait p50={s.wait_p50 * 1000:.1f}ms p99={s.wait_p99 * 1000:.1f}ms"
            if s.wait_p50 is not None and s.wait_p99 is not None
            else "no waits"
        )
        state = "closed" if s.closed else "open"
        return (
            f"{type(self).__name__} {state}: {s.size}/{s.config.max_size}"
            f"{f' (+{s.config.max_overflow} overflow)' if s.config.max_overflow else ''}"
            f" alive, {s.checked_out} out, {s.free_items} free, {s.creating} creating,"
            f" {s.waiting} waiting | gets={s.gets} waits={s.waits} timeouts={s.timeouts}"
            f" created={s.created} create_errors={s.create_errors}"
            f" disposed={sum(s.disposed.values())} leaks={s.leaks} | {waits}"
        )

    def _emit(self, name: str, item: Any, **fields: Any) -> None:
        listeners = self._listeners.get(name)
        if listeners:
            deliver(listeners, PoolEvent(name, self, item, **fields), self._call_listener)

    def _call_listener(self, fn: Listener, event: PoolEvent) -> None:
        # A coroutine listener is awaited where the pool's code may await
        # (asyncio), else finished by a task that aclose() waits for.
        self._backend.call_hook_later(self._pending_hooks, fn, event)
