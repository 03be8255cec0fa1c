"""Fixtures for the compatibility tests: the same subclass code on both pools.

Each test here is written the way code for :mod:`eventlet.pools` is written
(``from eventlet import pools``; subclass ``pools.Pool``) and runs twice:
on eventlet's own module and on :mod:`eventlet_pools`, which must be a
drop-in for it. A test asserts the same observable behaviour on both,
except where ours is documented as better (FIFO, no drift, no hang).
"""

from __future__ import annotations

import warnings
from types import ModuleType

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet.pools

import eventlet_pools


@pytest.fixture(params=["eventlet", "ours"])
def pools(request: pytest.FixtureRequest) -> ModuleType:
    """The module a subclass gets from ``from eventlet import pools``."""
    return eventlet.pools if request.param == "eventlet" else eventlet_pools


def is_ours(pools: ModuleType) -> bool:
    return pools is eventlet_pools
