"""The tracked path: get and put while items need a record each.

A pool keeps a :class:`~eventlet_pools.lifecycle.Record` per item while any
lifecycle option or a checkout/checkin listener is set ("managed"). Then a
get() validates what the core hands out (age, ``check``), replacing what
fails, and keeps waiting through create errors while ``create_retry`` is
on; a put() counts the use, runs ``reset`` and the checkin listeners, and
retires items past ``max_uses`` or ``max_age``.
"""

from __future__ import annotations

import logging
from typing import Optional, TypeVar

from eventlet_pools._base import PoolBase
from eventlet_pools._validate import check_get_args
from eventlet_pools.errors import PoolError, PoolTimeout
from eventlet_pools.events import PoolEvent, deliver
from eventlet_pools.lifecycle import Record

__all__ = ["TrackedPath"]

T = TypeVar("T")

logger = logging.getLogger("eventlet_pools")


class TrackedPath(PoolBase[T]):
    """Pool's get/put slow paths with per-item records (a part of Pool)."""

    def _get_managed(self, block: bool, timeout: Optional[float]) -> T:
        # get() with lifecycle options: validate what _acquire hands out,
        # replace what fails, and keep waiting through create errors while
        # create_retry is on and time is left.
        clock = self._clock
        started = clock()
        retry = self._opts.create_retry is not None
        wait = check_get_args(block, timeout)
        if wait is None:
            wait = self._timeout
        deadline = None if wait is None else started + wait
        # check() runs within the caller's time (a get that may not wait at
        # all, block=False or timeout=0, still lets a check finish).
        check_by = deadline if block and wait else None
        remaining = wait
        create_now = False  # True: we hold a slot after a failed validation
        had_turn = False  # True: our create failed; we wait first in line
        while True:
            try:
                if create_now:
                    create_now = False
                    item = self._create_in_slot()
                else:
                    item = self._acquire(block, remaining, had_turn, True)
            except PoolTimeout as timed_out:
                error = self._create_error
                if retry and error is not None:
                    # A new exception for each caller, chained to the error:
                    # the stored one is never raised (its traceback would grow
                    # and be shared by every greenthread that raised it).
                    raise PoolTimeout(f"{timed_out}; create() kept failing: {error!r}") from error
                raise
            except PoolError:
                raise
            except Exception:
                # create() failed; its slot went back. With create_retry,
                # maintenance retries and we wait for the result, ahead of
                # everyone who came after us.
                if not retry or not block or self._closed:
                    raise
                if deadline is not None:
                    remaining = deadline - clock()
                    if remaining <= 0:
                        raise
                had_turn = True
                continue
            rec = self._records.get(id(item))
            if rec is None or rec.item is not item:
                rec = self._records[id(item)] = Record(item, clock())
            if rec.fresh:
                rec.fresh = False
            elif not self._fit_for_checkout(item, rec, check_by):
                # The failed item's capacity is still ours: create in it,
                # unless the pool shrank or closed meanwhile.
                if self._size > self._limit:
                    self._release_slot()
                else:
                    create_now = True
                if deadline is not None:
                    remaining = max(0.0, deadline - clock())
                continue
            return self._check_out(item, rec, started)

    def _fit_for_checkout(self, item: T, rec: Record, deadline: Optional[float] = None) -> bool:
        # Age, then check(): False disposes the item and leaves its
        # capacity counted as a creation slot for the caller. On eventlet,
        # check() is interrupted at the caller's deadline.
        opts = self._opts
        reason = None
        error: Optional[Exception] = None
        if opts.max_age is not None and self._clock() - rec.created >= opts.max_age:
            reason = "aged"
        elif opts.check is not None:
            self._counts.checks += 1
            known_good = self._known_good
            if known_good is not None and known_good(item, rec):
                # Its owner vouches for it without a round trip (a
                # ConnectionPool's connection used moments ago): no timer.
                rec.checked = self._clock()
                return True
            finished = True
            backend = self._backend
            try:
                # Without the pool's lock (threads): it may be a round trip.
                if deadline is not None:
                    finished, ok = backend.call_within(
                        deadline - self._clock(), backend.call_hook, opts.check, item
                    )
                else:
                    ok = backend.call_hook(opts.check, item)
            except Exception as exc:
                ok, error = False, exc
            except BaseException:
                # Interrupted mid-check: the item's state is unknown.
                self._drop(item, "check_failed")
                raise
            if not finished:
                self._counts.checks_failed += 1
                self._counts.timeouts += 1
                self._drop(item, "check_failed")  # its state is unknown too
                raise PoolTimeout(f"check() of an item of {self!r} outlasted the get() timeout")
            if ok:
                rec.checked = self._clock()
                return True
            self._counts.checks_failed += 1
            reason = "check_failed"
        else:
            return True
        self._item_to_slot()
        self._dispose_quietly(item, reason, error)
        return False

    def _check_out(self, item: T, rec: Record, started: float) -> T:
        opts = self._opts
        now = self._clock()
        rec.uses += 1
        rec.out_since = now
        rec.leak_reported = False
        if opts.report_leak_after is not None:
            # get() <- _get_managed <- here: start at get's caller.
            rec.capture_stack(3)
            self._need_upkeep_by(now + opts.report_leak_after)
        listeners = self._listeners.get("checkout")
        if listeners:
            try:
                event = PoolEvent("checkout", self, item, waited=now - started)
                deliver(listeners, event, self._call_listener)
            except BaseException:
                self._put_back(item, rec)
                raise
        return item

    def _put_managed(self, item: T) -> None:
        clock = self._clock
        rec = self._record_of(item)
        if rec is None:
            # Only an item checked out before lifecycle tracking started (a
            # checkout listener added later) may come back untracked: trust
            # the count for as many of those as there were.
            self._check_out_count(item)
            if self._untracked_out <= 0:
                raise PoolError(f"{item!r} was never checked out of {self!r}")
            self._untracked_out -= 1
            rec = self._records[id(item)] = Record(item, clock())
            rec.uses = 1
        elif rec.reclaimed:
            logger.warning("%r came back to %r after its slot was reclaimed; disposing it", item, self)
            self._dispose_quietly(item, "reclaimed")
            return
        elif rec.out_since is None:
            raise PoolError(f"{item!r} is not checked out of {self!r} (returned twice?)")
        out_since = rec.out_since  # (None: checked out before tracking started)
        rec.out_since = None
        rec.stack = None
        opts = self._opts
        reason = None
        error: Optional[Exception] = None
        if self._size > self._limit:
            pass  # closed or shrunk: _return_item disposes it, no reset needed
        elif opts.max_uses is not None and rec.uses >= opts.max_uses:
            reason = "uses"
        elif opts.max_age is not None and clock() - rec.created >= opts.max_age:
            reason = "aged"
        elif opts.reset is not None:
            try:
                self._backend.call_hook(opts.reset, item)
            except Exception as exc:
                logger.warning("reset(%r) raised %r; disposing the item", item, exc)
                reason, error = "reset_failed", exc
            except BaseException:
                self._drop(item, "reset_failed")
                raise
        listeners = self._listeners.get("checkin")
        try:
            if listeners:
                held = None if out_since is None else clock() - out_since
                deliver(listeners, PoolEvent("checkin", self, item, held=held), self._call_listener)
        finally:
            if reason is None:
                self._put_back(item, rec)
            else:
                self._drop(item, reason, error)

    def _put_back(self, item: T, rec: Optional[Record]) -> None:
        # An item the caller held goes back in without reset or events.
        if rec is not None:
            rec.out_since = None
            rec.used = rec.checked = self._clock()
            self._note_free(rec)
        self._return_item(item)

    def _record_of(self, item: T) -> Optional[Record]:
        rec = self._records.get(id(item))
        return rec if rec is not None and rec.item is item else None

    def _set_mode(self) -> None:
        # Managed mode (per-item records, slow get/put) is on while any
        # lifecycle option or checkout/checkin listener is.
        listeners = self._listeners
        managed = self._opts.any_set or "checkout" in listeners or "checkin" in listeners
        if not managed:
            self._records.clear()
            self._untracked_out = 0
        elif not self._managed:
            # Tracking starts now: items already out have no record.
            self._untracked_out = self._size - len(self._free) - self._creating
        self._managed = managed
        # Threads take the lock on every get: never the unlocked fast path.
        self._get_gate = managed or self._lock is not None or self._suspended or self._fresh is not None
        # item() may run get()'s fast path inline (see _ItemContext).
        self._item_fast = self._plain_item and not self._get_gate
        # aget() may wait as a task, with no bridge greenlet.
        self._aget_native = (
            self._plain_get
            and not self._get_gate
            and self._backend.is_async
            and self._max_waiting is None  # (its inline wait does not count the line)
        )
        self._push_cap = -1
