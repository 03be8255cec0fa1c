"""eventlet's own tests of eventlet.GreenPool, run on WorkerPool.

``WorkerPool(n, qsize=0)`` stands in for ``eventlet.GreenPool(n)`` while
eventlet's ``tests/greenpool_test.py`` (fetched from its source
distribution, as tests/compat/test_eventlet_suite.py does) runs. The tests
that do not apply are left out, each for a stated reason; the rest run
unchanged and must pass.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import unittest
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from eventlet_pools import WorkerPool
from tests.compat.conftest import eventlet_source_tests

# Tests of greenpool_test.py that do not apply to WorkerPool, and why.
NOT_APPLICABLE = {
    # A worker greenthread runs one task after another: a "local" hub timer
    # a task schedules outlives the task (GreenPool starts a greenthread per
    # spawn).
    "test_timer_cancel": "workers are reused",
    # waitall() from inside the pool raises PoolError (GreenPool: AssertionError).
    "test_recursive_waitall": "PoolError, not AssertionError",
    # GreenPool(0) and GreenPool(1e3): max_workers is an int >= 1.
    "test_greenpool_type_check": "max_workers is an int >= 1",
    # GreenPile and the tests built on it are eventlet's, on its own GreenPool.
    "test_pile": "GreenPile",
    "test_pile_spawn_times_out": "GreenPile",
    "test_empty_pile": "GreenPile",
    "test_constructing_from_pool": "GreenPile",
    "test_ordering_5": "GreenPile",
    "test_ordering_50": "GreenPile",
}


def green_pool(size: int = 1000) -> WorkerPool:
    """``eventlet.GreenPool(size)``'s stand-in."""
    return WorkerPool(size, qsize=0, backend="eventlet")


def load(name: str, path: pathlib.Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_suite() -> Any:
    """greenpool_test.py, its ``import tests`` given eventlet's tests package
    (this suite's own ``tests`` package is put back after)."""
    source = eventlet_source_tests()
    ours = sys.modules["tests"]
    sys.modules["tests"] = load("tests", source / "__init__.py")
    try:
        return load("greenpool_test_on_workerpool", source / "greenpool_test.py")
    finally:
        sys.modules["tests"] = ours


@pytest.mark.timeout(900)  # the first run downloads the sdist
def test_eventlets_greenpool_suite_passes_on_workerpool(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_suite()
    monkeypatch.setattr(eventlet, "GreenPool", green_pool)
    suite = unittest.TestSuite()
    ran = []
    for case in unittest.defaultTestLoader.loadTestsFromModule(module):
        assert isinstance(case, unittest.TestSuite)
        for test in case:
            assert isinstance(test, unittest.TestCase)
            name = test.id().rsplit(".", 1)[-1]
            if name not in NOT_APPLICABLE:
                suite.addTest(test)
                ran.append(name)
    result = unittest.TestResult()
    suite.run(result)
    problems = [f"{test}: {trace}" for test, trace in result.failures + result.errors]
    assert not problems, "\n".join(problems)
    # spawn, imap, waitall and resize among them; 19 in eventlet 0.41
    for needed in ("test_spawn", "test_imap", "test_resize", "test_imap_raises", "test_imap_500"):
        assert needed in ran, ran
    assert result.testsRun == len(ran) >= 19
