"""More of the Pool contract, on every backend and flavour (``runner``):
eventlet.pools' behaviour that a drop-in keeps (free_items and the order
changed at run time, the base class without create(), strays put back,
puts from elsewhere), then item() blocks, discard, close and repr.
test_backends.py holds the rest (the line, timeouts, storms, resize);
the last section here is what only greenthreads can show.
"""

from __future__ import annotations

import warnings
from collections import deque
from typing import Any, Callable

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

from eventlet_pools import Pool, PoolClosed, PoolError, PoolTimeout, Token, TokenPool
from tests.conftest import BACKENDS, Runner, Tracker, wait_all

MakePool = Callable[..., "tuple[Pool[Any], Tracker]"]

# ----------------------------------------------------------------------
# eventlet.pools behaviour


def test_order_and_free_items_can_be_changed_at_run_time(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=3)
        one, two = pool.get(), pool.get()
        pool.order_as_stack = True
        pool.put(one)
        pool.put(two)
        assert pool.get() is two
        pool.free_items = deque(pool.free_items)  # replaced, as some subclasses do
        pool.put(two)
        assert list(pool.free_items) == [two, one]
        pool.order_as_stack = False
        pool.get(), pool.get()
        pool.put(one)
        pool.put(two)
        assert [pool.get(), pool.get()] == [one, two]
        pool.put(one)
        pool.put(two)
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_puts_from_elsewhere_serve_the_waiting_get(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2)
        held = [pool.get(), pool.get()]
        waiter = runner.spawn(pool.get, True, 30)
        runner.until(lambda: pool.waiting() == 1)
        # Both go back from other greenthreads, threads or tasks, in either
        # order; the waiter gets whichever comes first.
        putters = [runner.spawn(pool.put, item) for item in held]
        got = waiter.wait()
        wait_all(putters)
        assert any(got is item for item in held)
        pool.put(got)
        assert len(tracker.created) == 2
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_base_pool_without_create_raises_not_implemented(runner: Runner) -> None:
    def body() -> None:
        pool: Pool[Any] = Pool(backend=runner.backend)
        with pytest.raises(NotImplementedError, match="create"):
            pool.get()
        assert pool.free() == 4  # the failed create gave its slot back
        runner.check(pool, settled=True)

    runner.run(body)


def test_timeouts_are_timeout_errors_and_item_uses_the_pool_timeout(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1, timeout=0.001)
        held = pool.get()
        with pytest.raises(PoolTimeout) as info:
            pool.get(timeout=0.001)
        assert isinstance(info.value, TimeoutError)
        with pytest.raises(PoolTimeout), pool.item():
            pass
        with pytest.raises(PoolTimeout, match="block=False"):
            pool.get(block=False)
        pool.put(held)
        assert pool.get(block=False) is held
        pool.put(held)
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_put_with_nothing_checked_out_disposes_the_stray_and_keeps_the_size(
    runner: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    # A placeholder put back after a failed create() (Swift's memcache pool):
    # eventlet's pool would keep it and grow by one; ours drops it.
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2)
        pool.put(pool.get())
        before = (pool.current_size, list(pool.free_items), pool.free())
        placeholder = (None, None)
        tracker.strays.append(placeholder)
        with caplog.at_level("WARNING", logger="eventlet_pools"):
            pool.put(placeholder)
        assert (pool.current_size, list(pool.free_items), pool.free()) == before
        assert tracker.disposed_strays == [placeholder]
        assert pool.stats().disposed["stray"] == 1
        assert [r.getMessage() for r in caplog.records] == [
            f"{placeholder!r} was put back into {pool!r} with nothing checked out; disposing it"
        ]
        runner.check(pool, tracker, settled=True)

    runner.run(body)


# ----------------------------------------------------------------------
# item(), discard


def test_item_block_gives_back_when_its_holder_is_stopped(runner: Runner) -> None:
    if not runner.can_stop:
        assert runner.backend == "threads"  # threads cannot be killed
        return

    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)

        def hold_until_stopped() -> None:
            with pool.item():
                pool.get()  # waits in line for ever: nothing else is free

        holder = runner.spawn(hold_until_stopped)
        runner.until(lambda: pool.waiting() == 1)
        holder.stop()
        wait_all([holder])
        assert pool.waiting() == 0
        assert pool.free() == 1
        assert pool._in_context == {}
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_context_discard_drops_the_item_and_refuses_outside_the_block(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        ctx = pool.item()
        with ctx as obj:
            assert pool.free() == 0
            ctx.discard()
        assert tracker.disposed == [obj]
        assert pool._in_context == {}
        with pytest.raises(PoolError, match="outside the with block"):
            ctx.discard()
        fresh = pool.get()
        assert fresh is not obj
        pool.put(fresh)
        with pytest.raises(RuntimeError), pool.item():
            raise RuntimeError("the block failed")
        assert pool._in_context == {}
        runner.check(pool, tracker, settled=True)

    runner.run(body)


@pytest.mark.parametrize("options", [{}, {"max_uses": 100}], ids=["plain", "managed"])
def test_pool_discard_inside_item_block_is_not_put_back(runner: Runner, options: dict[str, Any]) -> None:
    def body() -> None:
        # Another item is out, so a wrong put() back would pass the count check.
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=2, **options)
        other = pool.get()
        with pool.item() as obj:
            pool.discard(obj)
        assert tracker.disposed == [obj]
        assert all(free is not obj for free in pool.free_items)
        pool.put(other)
        assert pool._in_context == {}
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_discard_with_nothing_checked_out_raises_and_changes_nothing(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, max_size=1)
        with pytest.raises(PoolError):
            pool.discard(object())
        assert tracker.disposed == []
        assert pool.free() == 1
        runner.check(pool, tracker, settled=True)

    runner.run(body)


# ----------------------------------------------------------------------
# close, repr


def test_close_disposes_free_items_now_and_the_rest_as_they_return(runner: Runner) -> None:
    def body() -> None:
        tracker = runner.tracker()
        pool = runner.pool(tracker, min_size=1, max_size=2)
        free_item, held = pool.get(), pool.get()
        pool.put(free_item)
        pool.close()
        assert pool.closed
        assert tracker.disposed == [free_item]  # free items go now
        with pytest.raises(PoolClosed):
            pool.get()
        pool.put(held)  # checked-out ones when they come back
        assert tracker.disposed == [free_item, held]
        assert pool.current_size == 0
        pool.close()  # idempotent
        runner.check(pool, tracker, settled=True)

    runner.run(body)


def test_repr_shows_size_and_state(runner: Runner) -> None:
    def body() -> None:
        pool = runner.pool(runner.tracker(), max_size=3)
        obj = pool.get()
        assert "size=1/3" in repr(pool)
        assert "free=2" in repr(pool)
        pool.put(obj)
        pool.close()
        assert "closed" in repr(pool)

    runner.run(body)


# ----------------------------------------------------------------------
# greenthreads only: what eventlet's hub makes observable


def test_put_never_switches(make_pool: MakePool) -> None:
    pool, _ = make_pool(max_size=1)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    eventlet.sleep(0)
    ran: list[str] = []
    eventlet.spawn(ran.append, "other")
    pool.put(held)
    assert ran == []  # nobody ran during put()
    assert waiter.wait() is held
    pool.put(held)


def test_a_waiter_given_an_item_then_timed_out_passes_it_on(make_pool: MakePool) -> None:
    # eventlet.Timeout thrown into waiters that were already handed an item
    # (the hub runs the throws before the waiters): each passes it on, and
    # the last one lands in free_items. put() never waits for any of them.
    pool, tracker = make_pool(max_size=2)
    held = [pool.get(), pool.get()]
    getters = [eventlet.spawn(pool.get) for _ in range(5)]
    eventlet.sleep(0)
    hub = eventlet.hubs.get_hub()
    for getter in getters:
        hub.schedule_call_global(0, getter.throw, eventlet.Timeout(None))
    with eventlet.Timeout(5):
        pool.put(held[0])
    for getter in getters:
        with pytest.raises(eventlet.Timeout):
            getter.wait()
    assert list(pool.free_items) == [held[0]]
    assert pool.waiting() == 0
    pool.put(held[1])
    assert tracker.alive == 2


# ----------------------------------------------------------------------
# TokenPool.item(): the token is its own with block


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("options", [{}, {"max_uses": 100}], ids=["plain", "managed"])
def test_token_item_takes_the_permit_at_the_call_and_the_token_is_its_block(
    backend: str, options: dict[str, Any]
) -> None:
    runner = Runner(backend)

    def body() -> None:
        limit = TokenPool(max_size=2, backend=runner.backend, **options)
        taken: Any = limit.item()  # (typed as any item() context)
        assert limit.free() == 1  # taken by the call, not by the block
        with taken as token, limit.item() as inner:
            assert token is taken
            assert isinstance(token, Token)
            assert isinstance(inner, Token)
            assert token is not inner
            assert limit.free() == 0
        assert limit.free() == 2
        with pytest.raises(RuntimeError), limit.item():
            raise RuntimeError("the block failed")
        assert limit.free() == 2
        ctx = limit.item()
        with ctx:
            ctx.discard()  # dropped: its slot is free, it does not come back
        assert limit.current_size == 1
        with pytest.raises(PoolError, match="outside the with block"):
            ctx.discard()
        with limit.item() as token:
            limit.discard(token)
        assert all(free is not token for free in limit.free_items)
        runner.check(limit, settled=True)

    runner.run(body)


@pytest.mark.parametrize("plain_tokens", [True, False], ids=["plain-tokens", "own-tokens"])
def test_token_item_of_a_subclass_overriding_put(backend: str, plain_tokens: bool) -> None:
    runner = Runner(backend)

    def body() -> None:
        returned: list[Token] = []

        class CountingPuts(TokenPool):
            def create(self) -> Token:
                # A plain Token is not the pool's own kind: item() wraps it.
                return Token() if plain_tokens else super().create()

            def put(self, item: Token) -> None:
                returned.append(item)
                super().put(item)

        limit = CountingPuts(max_size=1, backend=runner.backend)
        ctx = limit.item()
        assert limit.free() == 0  # taken by the call here too
        with ctx as token:
            assert isinstance(token, Token)
        assert returned == [token]  # the overridden put() gave it back
        before = list(returned)
        with limit.item(timeout=5) as token:
            limit.discard(token)
        assert returned == before  # discarded: the block did not put it back
        assert limit.current_size == 0
        ctx = limit.item()
        with ctx:
            ctx.discard()
        with pytest.raises(PoolError, match="outside the with block"):
            ctx.discard()
        runner.check(limit, settled=True)

    runner.run(body)


def test_a_stopped_token_holder_gives_the_permit_back(backend: str) -> None:
    runner = Runner(backend)
    if not runner.can_stop:
        assert runner.backend == "threads"  # threads cannot be killed
        return

    def body() -> None:
        limit = TokenPool(max_size=1, backend=runner.backend)

        def hold_until_stopped() -> None:
            with limit.item():
                limit.get()  # waits in line for ever

        holder = runner.spawn(hold_until_stopped)
        runner.until(lambda: limit.waiting() == 1)
        holder.stop()
        wait_all([holder])
        assert limit.free() == 1
        runner.check(limit, settled=True)

    runner.run(body)


def test_a_token_item_goes_back_to_the_pool_that_handed_it_out(backend: str) -> None:
    runner = Runner(backend)

    def body() -> None:
        first = TokenPool(max_size=1, backend=runner.backend)
        second = TokenPool(max_size=2, backend=runner.backend)
        stranger = first.get()
        held = second.get()
        second.put(stranger)  # counted as the one out (as eventlet's pool does)
        second.put(held)
        with second.item(), second.item():
            assert second.free() == 0
        assert second.free() == 2  # both came back here, the stranger too
        assert first.free() == 0  # first's holder never gave it back
        runner.check(second, settled=True)

    runner.run(body)
