"""Bad configuration fails loudly, naming the argument; and the package is a
drop-in for ``from eventlet import pools``."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest
from eventlet import pools as eventlet_pools_module

import eventlet_pools
import eventlet_pools as pools
from eventlet_pools import Backoff, Pool, PoolClosed, PoolError, PoolTimeout, Token, TokenPool


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"min_size": -1}, ValueError, "min_size.*-1"),
        ({"max_size": -2}, ValueError, "max_size.*-2"),
        ({"min_size": 5, "max_size": 2}, ValueError, r"min_size \(5\).*max_size \(2\)"),
        ({"max_size": 2.5}, TypeError, "max_size.*2.5"),
        ({"max_size": True}, TypeError, "max_size.*True"),
        ({"min_size": "1"}, TypeError, "min_size"),
        ({"create": 42}, TypeError, "create.*42"),
        ({"dispose": "x"}, TypeError, "dispose"),
        ({"timeout": -0.5}, ValueError, "timeout.*-0.5"),
        ({"timeout": math.nan}, ValueError, "timeout.*nan"),
        ({"timeout": "1"}, TypeError, "timeout"),
        ({"max_age": 0}, ValueError, "max_age.*> 0.*0"),
        ({"max_idle": -1}, ValueError, "max_idle.*-1"),
        ({"max_idle": "5"}, TypeError, "max_idle.*'5'"),
        ({"max_hold": math.nan}, ValueError, "max_hold.*nan"),
        ({"reclaim_after": True}, TypeError, "reclaim_after.*True"),
        ({"max_uses": 0}, ValueError, "max_uses.*0"),
        ({"max_uses": 2.0}, TypeError, "max_uses.*2.0"),
        ({"max_overflow": -1}, ValueError, "max_overflow.*-1"),
        ({"max_overflow": None}, TypeError, "max_overflow.*None"),
        ({"check": "ping"}, TypeError, "check.*'ping'"),
        ({"reset": 1}, TypeError, "reset.*1"),
        ({"health_check_interval": 5}, ValueError, "health_check_interval needs check="),
        ({"max_hold": 10, "reclaim_after": 5}, ValueError, r"reclaim_after \(5\).*max_hold \(10\)"),
        ({"create_retry": 3}, TypeError, "create_retry.*3"),
        ({"clock": 0}, TypeError, "clock.*0"),
    ],
)
def test_bad_configuration_names_argument_and_value(
    kwargs: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        Pool(**kwargs)


@pytest.mark.parametrize(("value", "error"), [(-1, ValueError), (1.5, TypeError), (None, TypeError)])
def test_bad_resize_changes_nothing(value: Any, error: type[Exception]) -> None:
    pool: Pool[object] = Pool(max_size=3, create=object)
    with pytest.raises(error, match="new_size"):
        pool.resize(value)
    assert pool.max_size == 3
    assert pool.free() == 3


def test_bad_get_timeout_is_rejected_before_waiting() -> None:
    pool: Pool[object] = Pool(max_size=1, create=object)
    held = pool.get()
    with pytest.raises(ValueError, match="timeout"):
        pool.get(timeout=-1)
    assert pool.waiting() == 0
    pool.put(held)


def test_bad_get_timeout_is_rejected_even_when_an_item_is_free() -> None:
    pool: Pool[object] = Pool(min_size=1, max_size=1, create=object)
    with pytest.raises(TypeError, match="timeout"):
        pool.get(timeout="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        pool.get(timeout=-1)
    assert pool.free() == 1
    obj = pool.get(timeout=0.5)  # a good timeout still takes the free item
    pool.put(obj)


def test_default_timeout_is_validated_when_set() -> None:
    pool: Pool[object] = Pool(max_size=1, create=object)
    pool.timeout = 2
    assert pool.timeout == 2.0
    with pytest.raises(ValueError, match=r"timeout.*-3"):
        pool.timeout = -3
    assert pool.timeout == 2.0


def test_failing_min_size_fill_disposes_what_it_made() -> None:
    made: list[object] = []
    disposed: list[object] = []

    def create() -> object:
        if len(made) == 2:
            raise OSError("third connect fails")
        made.append(object())
        return made[-1]

    with pytest.raises(OSError, match="third"):
        Pool(min_size=3, max_size=3, create=create, dispose=disposed.append)
    assert disposed == made


def test_error_hierarchy() -> None:
    assert issubclass(PoolTimeout, PoolError)
    assert issubclass(PoolTimeout, TimeoutError)
    assert issubclass(PoolClosed, PoolError)
    assert issubclass(PoolError, Exception)


def test_public_api_is_listed_and_importable() -> None:
    for name in eventlet_pools.__all__:
        assert hasattr(eventlet_pools, name), name
    assert set(eventlet_pools.__all__) >= {
        "Pool",
        "TokenPool",
        "Token",
        "PoolError",
        "PoolTimeout",
        "PoolClosed",
    }


def test_drop_in_for_eventlet_pools() -> None:
    # What eventlet.pools exports, we export, with compatible signatures.
    for name in ("Pool", "TokenPool", "Token"):
        assert hasattr(pools, name)
    theirs = inspect.signature(eventlet_pools_module.Pool.__init__).parameters
    ours = inspect.signature(pools.Pool.__init__).parameters
    for name, param in theirs.items():
        assert name in ours
        assert ours[name].default == param.default, name
    assert list(ours)[: len(theirs)] == list(theirs)  # same positional order
    pool = pools.Pool(create=object)
    for attribute in ("min_size", "max_size", "order_as_stack", "current_size", "free_items"):
        assert hasattr(pool, attribute)


def test_eventlet_docstring_example_works() -> None:
    pool = pools.TokenPool(max_size=4)
    with pool.item() as token:
        assert isinstance(token, Token)
        assert pool.free() == 3
    assert pool.free() == 4


def test_tokens_are_unique() -> None:
    pool = TokenPool(max_size=3)
    tokens = [pool.get() for _ in range(3)]
    assert len({id(t) for t in tokens}) == 3
    assert "Token" in repr(tokens[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"first": 0}, ValueError, "first.*0"),
        ({"factor": 0.5}, ValueError, "factor.*0.5"),
        ({"first": 2, "cap": 1}, ValueError, r"cap \(1\).*first \(2\)"),
        ({"jitter": 1.5}, ValueError, "jitter.*1.5"),
        ({"cap": "10"}, TypeError, "cap.*'10'"),
    ],
)
def test_bad_backoff_names_argument_and_value(
    kwargs: dict[str, Any], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        Backoff(**kwargs)


def test_backoff_grows_to_its_cap_within_its_jitter() -> None:
    backoff = Backoff(first=0.5, factor=3, cap=4, jitter=0.25)
    assert [backoff.delay(n, lambda: 0.5) for n in range(4)] == [0.5, 1.5, 4, 4]
    assert backoff.delay(0, lambda: 0.0) == pytest.approx(0.375)
    assert backoff.delay(1, lambda: 1.0) == pytest.approx(1.875)
    assert backoff.delay(9, lambda: 1.0) == 4  # jitter never exceeds the cap
