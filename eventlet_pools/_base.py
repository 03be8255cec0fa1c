"""What the parts of :class:`~eventlet_pools.Pool` share.

``Pool`` is one object built from a few parts, each in a module of its own:

* the core (pool.py): slots, the fast get/put, handoff to waiters, the
  counting of capacity, resize, close and discard;
* the tracked path (_tracked.py): get and put while lifecycle options or
  checkout/checkin listeners need a record of every item;
* maintenance (maintenance.py): the background rounds that evict, check,
  refill, retry and find leaks;
* events and statistics (_observe.py).

:class:`PoolBase` declares the state all of them read and write, and the
helpers they call on one another, so that each part type-checks alone. It
holds no code of its own: ``Pool.__init__`` sets the state.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar

from eventlet_pools.errors import PoolError

if TYPE_CHECKING:
    import threading

    from eventlet_pools._backends import Backend
    from eventlet_pools.events import Listener
    from eventlet_pools.lifecycle import Options, Record
    from eventlet_pools.maintenance import Upkeep
    from eventlet_pools.stats import Counters

__all__ = ["NO_ITEM", "PoolBase", "Slot", "guarded", "remove_identical"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Run a public method under the pool's lock with the threads backend
    (get and put take it on their slow paths only)."""

    @functools.wraps(method)
    def run_guarded(self: PoolBase[Any], *args: Any, **kwargs: Any) -> Any:
        with self._guard:
            return method(self, *args, **kwargs)

    return run_guarded  # type: ignore[return-value]


#: What :attr:`Slot.item` holds until an item is handed over that way.
NO_ITEM: Any = object()


class Slot:
    """A grant that means "capacity is yours: create an item".

    Each is its own object, so that a shrinking resize() can take back the
    newest grants whose waiters have not run yet (``revoked``): the longest
    waiters keep theirs, whichever runs first.
    """

    __slots__ = ("item", "revoked")

    def __init__(self) -> None:
        self.revoked = False
        # An item handed to the waiter after its slot was revoked.
        self.item: Any = NO_ITEM

    def __repr__(self) -> str:
        return "<revoked slot>" if self.revoked else "<slot>"


def remove_identical(seq: deque[Any] | list[Any], item: object) -> None:
    """Remove ``item`` itself (not an equal one) from ``seq``.

    Identity, not equality: two equal connections are still two connections.
    Grants go out in FIFO order, so the item is usually the first one.

    Raises:
      PoolError: it is not there (the pool's bookkeeping is broken).
    """
    if seq[0] is item:
        del seq[0]
        return
    for index, candidate in enumerate(seq):
        if candidate is item:
            del seq[index]
            return
    raise PoolError(f"pool bookkeeping lost track of {item!r}")  # pragma: no cover


class PoolBase(Generic[T]):
    """The state of a pool and the helpers its parts share (declarations only)."""

    # Configuration and runtime.
    _opts: Options
    _backend: Backend
    _clock: Callable[[], float]
    _lock: Optional[threading.RLock]
    _guard: Any
    _timeout: Optional[float]
    _max_waiting: Optional[int]
    _name: Optional[str]
    _suspended: bool
    _ready_lines: list[Any]
    # drain(): the items made since (id -> item) while older ones are out.
    _fresh: Optional[dict[int, Any]]
    _drain_old: int
    _min_size: int
    _max_size: int
    # Capacity: checked out + len(_free) + _creating == _size <= _limit.
    _size: int
    _creating: int
    _limit: int
    _free: deque[T]
    _push: Callable[[T], None]
    _push_cap: int
    _get_gate: bool
    _item_fast: bool
    _aget_native: bool
    _plain_item: bool
    _plain_get: bool
    _closed: bool
    _pending_hooks: set[Any]
    _waiters: Any
    _slots: deque[Slot]
    _revoked: deque[Slot]
    # Tracking (lifecycle options and checkout/checkin listeners).
    _managed: bool
    _records: dict[int, Record]
    _untracked_out: int
    # Maintenance.
    _upkeep: Optional[Upkeep]
    _retry_due: Optional[float]
    _retry_attempt: int
    _create_error: Optional[Exception]
    _failing_since: Optional[float]
    # Events and statistics.
    _listeners: dict[str, tuple[Listener, ...]]
    _gets: int
    _counts: Counters
    _timeouts_before: int
    _known_good: Optional[Callable[[Any, Record], bool]]
    _took: float

    if TYPE_CHECKING:
        # The core (pool.py).
        @property
        def min_size(self) -> int: ...
        def free(self) -> int: ...
        def _acquire(
            self, block: bool, timeout: Optional[float], front: bool = False, checked: bool = False
        ) -> T: ...
        def _create_in_slot(self) -> T: ...
        def _new_item(self) -> T: ...
        def _return_item(self, item: T) -> None: ...
        def _drop(self, item: T, reason: str, error: Optional[Exception] = None) -> None: ...
        def _dispose_quietly(self, item: T, reason: str, error: Optional[Exception] = None) -> None: ...
        def _release_slot(self) -> None: ...
        def _grant_free_capacity(self) -> None: ...
        def _check_out_count(self, item: T) -> None: ...
        def _reserve_slot(self) -> None: ...
        def _slot_filled(self) -> None: ...
        def _cancel_slot(self) -> None: ...
        def _item_to_slot(self) -> None: ...
        def _item_gone(self) -> None: ...
        def _spawn(self, function: Callable[..., None], *args: Any) -> Any: ...
        # The tracked path (_tracked.py).
        def _set_mode(self) -> None: ...
        def _put_back(self, item: T, rec: Optional[Record]) -> None: ...
        def _record_of(self, item: T) -> Optional[Record]: ...
        # Maintenance (maintenance.py).
        def _need_upkeep_by(self, when: float) -> None: ...
        def _note_free(self, rec: Record) -> None: ...
        def _schedule_retry(self, error: Exception) -> None: ...
        # Events (_observe.py).
        def _emit(self, name: str, item: Any, **fields: Any) -> None: ...
        def _call_listener(self, fn: Listener, event: Any) -> None: ...
