"""eventlet's own tests of eventlet.pools, run unchanged on eventlet_pools.

The tests ship in eventlet's source distribution, not in its wheel: they
are fetched from PyPI once (the version installed here) into a cache
directory, never copied into this repository. Each test module is loaded
with ``eventlet.pools`` pointing at the module under test, so its
``from eventlet import pools`` gets that module.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
import unittest
import warnings
from types import ModuleType

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.pools

import eventlet_pools
from tests.compat.conftest import eventlet_source_tests


def load_with_pools(path: pathlib.Path, pools: ModuleType, name: str) -> ModuleType:
    """Import the test module at ``path`` with ``eventlet.pools`` being ``pools``."""
    saved = eventlet.pools
    eventlet.pools = pools
    sys.modules["eventlet.pools"] = pools
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        eventlet.pools = saved
        sys.modules["eventlet.pools"] = saved
    return module


@pytest.mark.timeout(900)  # the first run downloads the sdist
def test_eventlets_pools_suite_passes_on_both(pools: ModuleType) -> None:
    module = load_with_pools(eventlet_source_tests() / "pools_test.py", pools, f"pools_test_{pools.__name__}")
    assert module.pools is pools  # the suite really ran against this module
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromModule(module).run(result)
    problems = [f"{test}: {trace}" for test, trace in result.failures + result.errors]
    assert not problems, "\n".join(problems)
    assert result.testsRun >= 13  # 13 in eventlet 0.33 to 0.41
    if pools is eventlet_pools:
        assert issubclass(module.IntPool, eventlet_pools.Pool)
