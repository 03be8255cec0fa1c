"""Argument checks shared by every pool: one wording for each kind of mistake.

Each check returns the value it accepts (a number of seconds as a float) and
raises ``TypeError`` for a value of the wrong type and ``ValueError`` for
one out of range, naming the argument and the value it got. ``bool`` is
never taken for a number: ``timeout=True`` is a mistake, not one second.
"""

from __future__ import annotations

from numbers import Real
from typing import Optional

__all__ = ["check_callable", "check_duration", "check_get_args", "check_seconds", "check_size"]


def check_size(name: str, value: object, least: int = 0) -> int:
    """An int of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < least:
        raise ValueError(f"{name} must be >= {least}, got {value!r}")
    return value


def check_duration(name: str, value: object, *, positive: bool = False) -> float:
    """A number of seconds, >= 0 (> 0 when ``positive``); None is refused."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds, got {value!r}")
    seconds = float(value)
    if not (seconds > 0 if positive else seconds >= 0):  # also rejects NaN
        raise ValueError(f"{name} must be {'>' if positive else '>='} 0 seconds, got {value!r}")
    return seconds


def check_seconds(name: str, value: object, *, positive: bool = False) -> Optional[float]:
    """:func:`check_duration`, where None (no limit) is accepted too."""
    if value is None:
        return None
    kind = type(value)
    # float and int first: the ABC check costs more than the rest.
    if kind is not float and kind is not int and (kind is bool or not isinstance(value, Real)):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    seconds = float(value)  # type: ignore[arg-type]  # (a Real: checked above)
    if not (seconds > 0 if positive else seconds >= 0):
        raise ValueError(f"{name} must be {'>' if positive else '>='} 0 seconds or None, got {value!r}")
    return seconds


def check_get_args(block: object, timeout: object) -> Optional[float]:
    """get()'s arguments: ``block`` a bool, ``timeout`` seconds or None."""
    if block is not True and block is not False:
        raise TypeError(f"block must be True or False, got {block!r}")
    return check_seconds("timeout", timeout)


def check_callable(name: str, value: object) -> None:
    """Something to call, or None."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {value!r}")
