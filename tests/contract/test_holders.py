"""Each backend tells holders apart and learns that one finished.

``current()``, ``watch_end()`` and ``has_ended()`` of the backends are what
pools that bind an item to its holder (GreenthreadLocalPool, Proxy) build
on: a greenthread, an OS thread or an asyncio task, and a callback that
runs once it has ended, never while it still runs.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from eventlet_pools import PoolError
from eventlet_pools._backends import backend_for


def test_green_holders_spawned_and_spawned_n_are_seen_to_end() -> None:
    backend = backend_for("eventlet")
    ended: list[str] = []
    refs: dict[str, Any] = {}
    release = eventlet.event.Event()

    def holder(name: str) -> None:
        me = backend.current()
        refs[name] = backend.watch_end(me, ended.append, name)
        assert not backend.has_ended(refs[name])
        release.wait()

    thread = eventlet.spawn(holder, "spawn")
    eventlet.spawn_n(holder, "spawn_n")
    eventlet.sleep(0)
    assert backend.current() is not thread  # the main greenlet here
    assert ended == []
    release.send()
    thread.wait()
    for _ in range(5):  # the spawn_n greenlet is seen once it is collected
        gc.collect()
        eventlet.sleep(0)
    assert sorted(ended) == ["spawn", "spawn_n"]
    assert all(backend.has_ended(ref) for ref in refs.values())


def test_thread_holders_are_seen_to_end_once_each() -> None:
    backend = backend_for("threads")
    ended: list[str] = []
    called = threading.Event()
    release = threading.Event()
    refs: dict[str, Any] = {}

    def note(name: str) -> None:
        ended.append(name)
        called.set()

    def holder() -> None:
        me = backend.current()
        assert me is threading.current_thread()
        refs["ref"] = backend.watch_end(me, note, "thread")
        backend.watch_end(me, note, "thread")  # the same call twice: runs once
        assert not backend.has_ended(refs["ref"])
        assert release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    while "ref" not in refs:
        assert thread.is_alive()
        called.wait(0.001)
    assert ended == []
    release.set()
    thread.join(10)
    assert called.wait(10)
    assert ended == ["thread"]
    assert backend.has_ended(refs["ref"])
    with pytest.raises(ValueError, match="the thread that calls it"):
        backend.watch_end(thread, note, "other")


def test_task_holders_are_seen_to_end() -> None:
    backend = backend_for("asyncio")

    async def main() -> None:
        ended: list[str] = []
        release = asyncio.Event()
        refs: dict[str, Any] = {}

        async def holder() -> None:
            me = backend.current()
            assert me is asyncio.current_task()
            refs["ref"] = backend.watch_end(me, ended.append, "task")
            assert not backend.has_ended(refs["ref"])
            await release.wait()

        task = asyncio.create_task(holder())
        while "ref" not in refs:
            await asyncio.sleep(0)
        assert ended == []
        release.set()
        await task
        await asyncio.sleep(0)  # done callbacks run at the next loop turn
        assert ended == ["task"]
        assert backend.has_ended(refs["ref"])

    asyncio.run(asyncio.wait_for(main(), 30))
    with pytest.raises(PoolError, match="asyncio task"):
        backend.current()
