"""Maintenance: the background rounds that keep a pool's items fit.

Upkeep that cannot wait for a caller runs in one background worker per pool
(a greenthread, a daemon thread or a task, from the pool's backend), started
the first time an option needs it. Each round runs a few small named tasks,
in order, and works out when the next one is due:

* :meth:`Maintenance._evict_free`: free items past ``max_age`` or idle past
  ``max_idle`` (never below ``min_size``) are disposed;
* :meth:`Maintenance._find_leaks`: checkouts held past ``max_hold`` are
  reported, past ``reclaim_after`` their slot is taken back;
* :meth:`Maintenance._check_free`: free items due a ``health_check_interval``
  check are checked, one at a time, and dropped if they fail;
* :meth:`Maintenance._refill`: items are created up to ``min_size``, and for
  waiters once a ``create_retry`` backoff has passed.

The worker holds only a weak reference to its pool between rounds, so a
pool dropped without close() is still garbage collected, and the worker
then ends. A checkout or checkin that brings a deadline forward moves the
next round earlier (:meth:`Upkeep.need_by`).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, Callable, Optional, TypeVar

from eventlet_pools._backends import Backend
from eventlet_pools._base import PoolBase, remove_identical
from eventlet_pools.errors import PoolTimeout
from eventlet_pools.lifecycle import Backoff, Record

__all__ = ["Maintenance", "Upkeep"]

T = TypeVar("T")

logger = logging.getLogger("eventlet_pools")

# The shortest wait between two maintenance rounds.
_MIN_ROUND_GAP = 0.001

# How long the maintenance worker waits after a round that raised,
# so a persistent bug cannot turn it into a busy loop.
_ROUND_ERROR_DELAY = 1.0


class Maintenance(PoolBase[T]):
    """Pool's maintenance rounds and their scheduling (a part of Pool)."""

    def _need_upkeep_by(self, when: float) -> None:
        # Start the maintenance greenthread if need be, and make sure it
        # runs no later than ``when``.
        if self._closed:
            return
        upkeep = self._upkeep
        if upkeep is None:
            if not self._backend.can_spawn():
                return  # asyncio, made outside its loop: the first call inside starts it
            upkeep = self._upkeep = Upkeep(self, self._backend, self._clock)
        upkeep.need_by(when)

    def _note_free(self, rec: Record) -> None:
        # An item became free: its idle, age and health deadlines start now.
        if self._opts.timed:
            due = rec.due_while_free(self._opts, idle_counts=True)
            if due is not None:
                self._need_upkeep_by(due)

    def _schedule_retry(self, error: Exception) -> None:
        opts = self._opts
        backoff = opts.create_retry
        assert isinstance(backoff, Backoff)  # True became Backoff() in Options
        self._create_error = error
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        elif opts.reconnect_timeout is not None and now - self._failing_since >= opts.reconnect_timeout:
            self._failing_since = now  # (asked again after another reconnect_timeout)
            if not self._reconnect_failed(error):
                self._retry_due = None  # stop: a later get() starts again
                self._retry_attempt = 0
                self._waiters.fail_all(lambda: _gave_up(self, error))
                return
        delay = backoff.delay(self._retry_attempt)
        self._retry_attempt += 1
        self._retry_due = self._clock() + delay
        self._need_upkeep_by(self._retry_due)

    def _reconnect_failed(self, error: Exception) -> bool:
        # Creates failed for reconnect_timeout: ask reconnect_failed(pool)
        # whether to go on (True, unless it returns False).
        hook = self._opts.reconnect_failed
        if hook is None:
            logger.error(
                "%r could not create an item for %s s: %r", self, self._opts.reconnect_timeout, error
            )
            return True
        try:
            return self._backend.call_hook(hook, self) is not False
        except Exception:
            logger.exception("reconnect_failed(%r) raised; retrying goes on", self)
            return True

    def _upkeep_round(self) -> Optional[float]:
        """One maintenance round; returns the clock reading the next is due."""
        if self._closed:
            return None
        for item in self._free:  # items free before tracking started
            if self._record_of(item) is None:
                self._records[id(item)] = Record(item, self._clock())
        self._evict_free()
        self._find_leaks()
        self._check_free()
        self._refill()
        self._grant_free_capacity()
        return None if self._closed else self._next_due()

    def _evict_free(self) -> None:
        opts = self._opts
        if opts.max_age is None and opts.max_idle is None:
            return
        keep = min(self.min_size, self._max_size)
        now = self._clock()
        for item in list(self._free):  # a snapshot: dispose() may switch
            if not any(f is item for f in self._free):
                continue  # handed out while an earlier dispose switched
            rec = self._records[id(item)]
            if opts.max_age is not None and now - rec.created >= opts.max_age:
                reason = "aged"
            elif opts.max_idle is not None and now - rec.used >= opts.max_idle and self._size > keep:
                reason = "idle"
            else:
                continue
            remove_identical(self._free, item)
            self._item_gone()
            self._dispose_quietly(item, reason)

    def _find_leaks(self) -> None:
        opts = self._opts
        if opts.max_hold is None and opts.reclaim_after is None:
            return
        report_after = opts.report_leak_after
        assert report_after is not None
        now = self._clock()
        for rec in list(self._records.values()):
            if rec.out_since is None or rec.reclaimed:
                continue
            held = now - rec.out_since
            if held >= report_after and not rec.leak_reported:
                rec.leak_reported = True
                self._counts.leaks += 1
                stack = rec.format_stack()
                logger.warning(
                    "%r has been checked out of %r for %.3f s; checked out at:\n%s",
                    rec.item,
                    self,
                    held,
                    stack,
                )
                self._emit("leak", rec.item, held=held, stack=stack)
            if opts.reclaim_after is not None and held >= opts.reclaim_after and not rec.reclaimed:
                rec.reclaimed = True
                self._counts.reclaimed += 1
                self._item_gone()
                self._push_cap = -1
                logger.warning(
                    "reclaimed the slot of %r from %r after %.3f s; the item is disposed when it comes back",
                    rec.item,
                    self,
                    held,
                )
                self._grant_free_capacity()
                if self._size < min(self.min_size, self._max_size):
                    self._need_upkeep_by(now)

    def _check_free(self, every: bool = False) -> None:
        # Health checks take one free item out at a time (so no get() can
        # have it meanwhile), check it, and put it back or drop it. With
        # ``every`` (check_all()), each free item now, whenever last checked.
        opts = self._opts
        interval = opts.health_check_interval
        check = opts.check
        if check is None or (interval is None and not every):
            return
        for item in list(self._free):  # a snapshot: check() may switch
            rec = self._record_of(item)
            if self._closed or rec is None:
                continue
            if not every and interval is not None and self._clock() - rec.checked < interval:
                continue
            if not any(f is item for f in self._free):
                continue  # handed out while an earlier check switched
            remove_identical(self._free, item)
            self._counts.checks += 1
            ok = False
            error: Optional[Exception] = None
            try:
                ok = bool(self._backend.call_hook(check, item))  # out of free_items: no one else has it
            except Exception as exc:
                error = exc
            finally:
                if ok:
                    rec.checked = self._clock()
                    self._return_item(item)
                else:
                    self._counts.checks_failed += 1
                    self._drop(item, "check_failed", error)

    def _refill(self) -> None:
        # Create up to min_size, and with create_retry, for waiters once
        # the backoff has passed.
        target = min(self.min_size, self._max_size)
        if self._retry_due is not None and self._size >= self._limit:
            # Full again (items came back, or a resize): nothing to retry;
            # waiters are served by returning items.
            self._retry_due = None
        while not self._closed and self._size < self._limit:
            if self._retry_due is not None:
                if self._clock() < self._retry_due:
                    return
                if not (self._waiters or self._size < target):
                    self._retry_due = None
                    return
            elif self._size >= target:
                return
            self._reserve_slot()
            try:
                new = self._new_item()
            except Exception as exc:
                self._cancel_slot()
                if self._opts.create_retry is not None:
                    self._schedule_retry(exc)
                else:
                    logger.warning("refilling %r to min_size failed: %r", self, exc)
                return
            except BaseException:
                self._release_slot()
                raise
            self._slot_filled()
            self._retry_due = None
            self._retry_attempt = 0
            self._create_error = None
            # Bookkeeping first, with no switch in between: the new item to
            # the first waiter, the capacity a backoff held back to the rest.
            self._put_back(new, self._record_of(new))
            self._grant_free_capacity()
            self._emit("create", new, took=self._took)

    def _next_due(self) -> Optional[float]:
        opts = self._opts
        due = self._retry_due
        candidates: list[float] = []
        keep = min(self.min_size, self._max_size)
        idle_counts = self._size > keep
        for item in self._free:
            rec = self._record_of(item)
            free_due = None if rec is None else rec.due_while_free(opts, idle_counts)
            if free_due is not None:
                candidates.append(free_due)
        if opts.max_hold is not None or opts.reclaim_after is not None:
            for rec in self._records.values():
                if rec.out_since is None or rec.reclaimed:
                    continue
                if opts.max_hold is not None and not rec.leak_reported:
                    candidates.append(rec.out_since + opts.max_hold)
                if opts.reclaim_after is not None:
                    candidates.append(rec.out_since + opts.reclaim_after)
        if candidates:
            soonest = min(candidates)
            due = soonest if due is None else min(due, soonest)
        return due


class Upkeep:
    """The maintenance greenthread of one pool, and when it should run next.

    ``due`` is the clock reading the greenthread sleeps until (``None``:
    nothing is due). :meth:`need_by` moves it earlier; :meth:`stop` ends the
    greenthread at its next turn.
    """

    __slots__ = ("__weakref__", "_alarm", "_clock", "due", "thread")

    def __init__(self, pool: Maintenance[Any], backend: Backend, clock: Callable[[], float]) -> None:
        # A greenthread, a daemon thread (threads) or a task (asyncio).
        alarm = backend.alarm()
        self._alarm = alarm
        self._clock = clock
        self.due: Optional[float] = None
        # The weakref callback wakes the greenthread when the pool is
        # collected; it closes over the alarm only, never the pool.
        ref = weakref.ref(pool, lambda _ref: alarm.stop())
        self.thread: Any = backend.spawn(_run, ref, alarm, weakref.ref(self), backend.guard)

    def need_by(self, when: float) -> None:
        """Make sure a round runs no later than clock reading ``when``."""
        if self.due is None or when < self.due:
            self.due = when
            self._alarm.reschedule(when - self._clock())

    def end_round(self, due: Optional[float]) -> Optional[float]:
        """Merge the round's next deadline with any moved in meanwhile; return the delay."""
        if due is not None and (self.due is None or due < self.due):
            self.due = due
        return None if self.due is None else self.due - self._clock()

    def stop(self) -> None:
        """End the greenthread at its next turn (it finishes a round in progress)."""
        self._alarm.stop()


def _run(ref: weakref.ref[Maintenance[Any]], alarm: Any, upkeep_ref: weakref.ref[Upkeep], guard: Any) -> None:
    # Sleep until due, run a round, repeat. Between rounds only the weak
    # references and the alarm are alive here, never the pool itself.
    upkeep = upkeep_ref()
    delay = None if upkeep is None else upkeep.end_round(None)
    del upkeep
    first = True
    while True:
        if not (first and delay is not None and delay <= 0):  # due at start: no extra turn
            alarm.wait(delay)
        first = False
        pool = ref()
        upkeep = upkeep_ref()
        if alarm.stopped or pool is None or upkeep is None or pool._closed:
            return
        try:
            with guard:  # the pool's lock, with the threads backend
                upkeep.due = None  # need_by() calls during the round set it again
                delay = upkeep.end_round(pool._upkeep_round())
            if delay is not None and delay < _MIN_ROUND_GAP:
                # Something is due again at once: a deadline the round
                # could not act on. Never let that become a busy loop.
                delay = _MIN_ROUND_GAP
        except Exception:
            logger.exception("maintenance round of %r raised; retrying in %s s", pool, _ROUND_ERROR_DELAY)
            delay = _ROUND_ERROR_DELAY
        del pool, upkeep


def _gave_up(pool: Any, error: Exception) -> PoolTimeout:
    # What a caller waiting gets when reconnect_failed stops the retries.
    timeout = PoolTimeout(f"{pool!r} stopped retrying create() (reconnect_failed): {error!r}")
    timeout.__cause__ = error
    return timeout
