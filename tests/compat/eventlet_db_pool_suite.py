"""eventlet.db_pool on another pool module, and a runner for eventlet's own suite.

:func:`load_db_pool_on` loads the ``eventlet/db_pool.py`` of the installed
eventlet as a new module whose base class ``Pool`` comes from the given
pools module: that is what ``eventlet.db_pool`` would be if eventlet shipped
eventlet_pools as its ``eventlet.pools``.

Run as a script, from the root of eventlet's unpacked sdist (its ``tests``
package must be the one imported), it runs eventlet's ``tests/db_pool_test.py``
against that module and prints one JSON line of results::

    python eventlet_db_pool_suite.py eventlet|ours|module

``module`` runs it against :mod:`eventlet_pools.db_pool` instead.

The databases come from ``EVENTLET_DB_TEST_AUTH`` (see eventlet's tests).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pathlib
import sys
import unittest
import warnings
from types import ModuleType

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    import eventlet.pools

import eventlet_pools


def load_db_pool_on(pools: ModuleType) -> ModuleType:
    """A fresh copy of eventlet's db_pool module whose ``Pool`` is ``pools.Pool``."""
    path = pathlib.Path(eventlet.__file__).with_name("db_pool.py")
    saved = sys.modules["eventlet.pools"]
    sys.modules["eventlet.pools"] = pools  # its `from eventlet.pools import Pool`
    try:
        name = "ours" if pools is eventlet_pools else "eventlet"
        spec = importlib.util.spec_from_file_location(f"eventlet_db_pool_on_{name}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.modules["eventlet.pools"] = saved
    assert module.Pool is pools.Pool
    return module


def main(which: str) -> None:
    if which == "module":  # eventlet_pools.db_pool, this library's own
        db_pool = importlib.import_module("eventlet_pools.db_pool")
    else:
        pools = eventlet_pools if which == "ours" else eventlet.pools
        db_pool = load_db_pool_on(pools)
    sys.modules["eventlet.db_pool"] = db_pool
    eventlet.db_pool = db_pool  # what `from eventlet import db_pool` reads
    sys.path.insert(0, str(pathlib.Path.cwd()))
    try:
        import MySQLdb  # noqa: F401 - mysqlclient, if it was built here
    except ImportError:
        import pymysql  # pure Python: stands in for it, as it offers to

        pymysql.install_as_MySQLdb()
    suite_module = importlib.import_module("tests.db_pool_test")  # eventlet's tests package

    assert suite_module.db_pool is db_pool
    result = unittest.TestResult()
    loader = unittest.defaultTestLoader
    for value in list(vars(suite_module).values()):
        # As pytest does: a TestCase class with __test__ = False is a base.
        if (
            isinstance(value, type)
            and issubclass(value, unittest.TestCase)
            and getattr(value, "__test__", True)
        ):
            loader.loadTestsFromTestCase(value).run(result)
    # The module-level test functions (pytest style) run too.
    functions = [name for name in dir(suite_module) if name.startswith("test_")]
    failed_functions = []
    for name in functions:
        try:
            getattr(suite_module, name)()
        except Exception as exc:
            failed_functions.append(f"{name}: {exc!r}")
    print(
        json.dumps(
            {
                "module": db_pool.__name__,
                "pool": f"{db_pool.Pool.__module__}.{db_pool.Pool.__name__}",
                "run": result.testsRun + len(functions),
                "failures": [f"{test}: {trace}" for test, trace in result.failures + result.errors]
                + failed_functions,
                "skipped": [f"{test}: {reason}" for test, reason in result.skipped],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
