"""Importing eventlet_pools does not import eventlet (nor gevent). A program
that never imports eventlet gets the threads backend and never loads it; a
green pool's first wait loads it, without eventlet's deprecation warning. A
gevent program gets the gevent backend and never loads eventlet."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_clean(source: str) -> subprocess.CompletedProcess[str]:
    """Run ``source`` in a fresh interpreter where every warning is an error."""
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_importing_the_library_does_not_import_eventlet_or_gevent() -> None:
    ran = run_clean(
        """
        import sys
        import eventlet_pools, eventlet_pools.dbapi, eventlet_pools.variants, eventlet_pools.proxy
        import eventlet_pools.redis
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("eventlet", "gevent"))
        print("loaded:", loaded)
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert "loaded: []" in ran.stdout


def test_a_program_without_eventlet_waits_on_threads_and_never_loads_it() -> None:
    ran = run_clean(
        """
        import sys
        import eventlet_pools
        pool = eventlet_pools.Pool(max_size=1, create=object)  # backend='auto'
        held = pool.get()
        try:
            pool.get(timeout=0.01)  # waits: on a native thread's condition
        except eventlet_pools.PoolTimeout:
            pass
        pool.put(held)
        print(pool.backend, "eventlet" in sys.modules)
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "threads False"


def test_the_first_green_wait_imports_eventlet_quietly() -> None:
    ran = run_clean(
        """
        import sys
        import eventlet_pools
        pool = eventlet_pools.Pool(max_size=1, create=object, backend="eventlet")
        held = pool.get()  # no waiting: still no eventlet
        assert "eventlet" not in sys.modules
        try:
            pool.get(timeout=0.01)  # waits: the hub is needed now
        except eventlet_pools.PoolTimeout:
            pass
        assert "eventlet" in sys.modules
        pool.put(held)
        print("ok")
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "ok"
    assert "deprecated" not in ran.stderr


def test_a_gevent_program_gets_the_gevent_backend_and_never_loads_eventlet() -> None:
    ran = run_clean(
        """
        import sys
        from gevent import monkey
        monkey.patch_all()
        import gevent
        import eventlet_pools
        pool = eventlet_pools.Pool(max_size=1, create=object)  # backend='auto'
        held = pool.get()
        waiter = gevent.spawn(pool.get, True, 5)
        gevent.sleep(0)
        assert pool.waiting() == 1
        pool.put(held)
        assert waiter.get() is held
        print(pool.backend, "eventlet" in sys.modules)
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "gevent False"


def test_a_worker_pool_made_in_a_running_loop_is_an_async_one() -> None:
    ran = run_clean(
        """
        import asyncio, sys
        import eventlet_pools

        async def main():
            async with eventlet_pools.WorkerPool(2) as pool:  # backend='auto'
                print(type(pool).__name__, await pool.complete(pow, 2, 3), "eventlet" in sys.modules)

        asyncio.run(main())
        """
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "AsyncWorkerPool 8 False"
