"""RedisTokenPool and @pooled in one process, against a redis-server of the
test's own (eventlet_pools.redis.testing.RedisServer: a free loopback port,
nothing on disk). redis-py is made green with eventlet.import_patched."""

from __future__ import annotations

import contextlib
import gc
import logging
import random
import re
import time
import warnings
from collections.abc import Iterator
from typing import Any

import greenlet
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet
    from eventlet.event import Event
    from greenlet import GreenletExit

from eventlet_pools import BackendError, LeaseLost, PoolClosed, PoolTimeout
from eventlet_pools.redis import RedisTokenPool, pooled
from eventlet_pools.redis.testing import RedisServer

green_redis: Any = eventlet.import_patched("redis")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def client(server: RedisServer) -> Iterator[Any]:
    """A green client on an empty Redis; every pool made in the test is
    closed at its end, before the client."""
    conn = green_redis.Redis(host=server.host, port=server.port)
    conn.flushall()
    made: list[RedisTokenPool] = []
    real_init = RedisTokenPool.__init__

    def tracking_init(self: RedisTokenPool, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    RedisTokenPool.__init__ = tracking_init  # type: ignore[method-assign]
    try:
        yield conn
    finally:
        RedisTokenPool.__init__ = real_init  # type: ignore[method-assign]
        for pool in made:
            pool.close()
        eventlet.sleep(0.01)
        conn.close()


def wait_until(predicate: Any, seconds: float = 5.0) -> None:
    """Let the hub run until ``predicate()`` holds (a sequence point on
    state another greenthread or process changes)."""
    with eventlet.Timeout(seconds):
        while not predicate():
            eventlet.sleep(0.005)


def test_get_put_size_free_and_item(client: Any) -> None:
    pool = RedisTokenPool(client, "basic", 2)
    first = pool.get()
    assert pool.size() == 1
    assert pool.free() == 1
    with pool.item() as second:
        assert second.id != first.id
        assert pool.free() == 0
        with pytest.raises(PoolTimeout):
            pool.get(block=False)
        with pytest.raises(PoolTimeout):
            pool.get(timeout=0)
    pool.put(first)
    assert pool.size() == 0
    assert pool.free() == 2
    assert pool.waiting() == 0


def test_a_second_pool_object_shares_the_slots(client: Any) -> None:
    one = RedisTokenPool(client, "shared", 1)
    other = RedisTokenPool(client, "shared", 1)
    token = one.get()
    with pytest.raises(PoolTimeout):
        other.get(block=False)
    one.put(token)
    other.put(other.get(block=False))


def test_waiters_are_served_in_arrival_order(client: Any) -> None:
    pool = RedisTokenPool(client, "fifo", 1)
    held = pool.get()
    order: list[int] = []

    def waiter(n: int) -> None:
        with pool.item(timeout=10):
            order.append(n)

    greenthreads = []
    for n in range(8):
        greenthreads.append(eventlet.spawn(waiter, n))
        wait_until(lambda n=n: pool.waiting() == n + 1)  # n is in line: next one
    pool.put(held)
    for gt in greenthreads:
        gt.wait()
    assert order == list(range(8))
    assert pool.size() == 0


def test_timed_out_waiter_leaves_the_line(client: Any) -> None:
    pool = RedisTokenPool(client, "timeout", 1)
    held = pool.get()
    with pytest.raises(PoolTimeout):
        pool.get(timeout=0.05)
    assert pool.waiting() == 0
    pool.put(held)
    assert pool.free() == 1


def test_killed_waiter_leaves_the_line_and_a_killed_grantee_passes_on(client: Any) -> None:
    pool = RedisTokenPool(client, "killed", 1)
    # The service greenthread hands grants to local waiters; the moment one
    # has been handed the slot and has not run yet is forced, not hoped for:
    # the grantee is killed right there, inside the service's turn.
    victim: dict[str, Any] = {}
    real_take_grants = pool._take_grants

    def take_grants_then_kill(seconds: float) -> None:
        real_take_grants(seconds)
        queue = victim.get("queue")
        if queue is not None and queue.in_transit() and "killed" not in victim:
            victim["killed"] = True
            victim["thread"].kill()  # granted, and not resumed yet

    pool._take_grants = take_grants_then_kill  # type: ignore[method-assign]
    held = pool.get()
    doomed = eventlet.spawn(pool.get)
    wait_until(lambda: pool.waiting() == 1)
    doomed.kill()
    assert pool.waiting() == 0
    # A waiter granted the slot but killed before it runs passes it on.
    victim["thread"] = eventlet.spawn(pool.get)
    wait_until(lambda: pool.waiting() == 1)
    ((victim_queue, _entry),) = pool._local.values()
    next_in_line = eventlet.spawn(pool.get, True, 10)
    wait_until(lambda: pool.waiting() == 2)
    victim["queue"] = victim_queue
    pool.put(held)
    with eventlet.Timeout(10):
        token = next_in_line.wait()
    assert victim.get("killed")
    with pytest.raises(greenlet.GreenletExit):
        victim["thread"].wait()
    pool.put(token)
    assert pool.size() == 0


def test_put_of_a_lost_or_foreign_lease_raises_and_changes_nothing(client: Any) -> None:
    pool = RedisTokenPool(client, "lost", 2)
    other = RedisTokenPool(client, "other", 2)
    token = pool.get()
    foreign = other.get()
    with pytest.raises(LeaseLost, match="not a lease"):
        pool.put(foreign)
    assert other.size() == 1
    pool.put(token)
    with pytest.raises(LeaseLost, match="already"):
        pool.put(token)
    expiring = pool.get()
    keeper = pool.get()
    # Its lease runs out (as if its process had stalled past it), and the
    # next call that reads the clock reclaims the slot.
    client.zadd(pool._keys[0], {expiring.id: 1})
    client.hset(pool._keys[3], "next", 0)
    assert pool.size() == 1
    with pytest.raises(LeaseLost, match="expired"):
        pool.put(expiring)
    assert pool.size() == 1  # the keeper's slot is untouched
    pool.put(keeper)
    other.put(foreign)


def test_held_lease_is_renewed_while_held(client: Any) -> None:
    pool = RedisTokenPool(client, "renew", 1, lease=0.3)
    token = pool.get()
    eventlet.sleep(1.0)  # three leases long: only renewals keep it
    assert pool.size() == 1
    with pytest.raises(PoolTimeout):
        pool.get(block=False)
    pool.put(token)


def test_token_dropped_without_put_is_released(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    pool = RedisTokenPool(client, "dropped", 1)
    with caplog.at_level(logging.WARNING, "eventlet_pools"):
        pool.get()  # the token is dropped at once
        gc.collect()
        with eventlet.Timeout(5):
            pool.put(pool.get())  # waits until the dropped one was released
    assert "without put()" in caplog.text


def test_resize_grows_and_wakes_waiters_and_shrinks(client: Any) -> None:
    pool = RedisTokenPool(client, "resize", 1)
    held = pool.get()
    waiters = [eventlet.spawn(pool.get, True, 10) for _ in range(2)]
    wait_until(lambda: pool.waiting() == 2)
    pool.resize(3)
    tokens = [gt.wait() for gt in waiters]
    assert pool.size() == 3
    pool.resize(1)
    for token in tokens:
        pool.put(token)
    with pytest.raises(PoolTimeout):
        pool.get(block=False)  # one held, size 1
    pool.put(held)
    assert pool.max_size == 1
    assert RedisTokenPool(client, "resize", 2).max_size == 2  # the last one sets it


def test_close_fails_local_waiters_and_later_gets(client: Any) -> None:
    pool = RedisTokenPool(client, "close", 1)
    held = pool.get()
    waiter = eventlet.spawn(pool.get)
    wait_until(lambda: pool.waiting() == 1)
    pool.close()
    with pytest.raises(PoolClosed):
        waiter.wait()
    with pytest.raises(PoolClosed):
        pool.get()
    assert pool.waiting() == 0
    pool.put(held)  # still released after close
    assert pool.size() == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"key": ""}, ValueError, "empty"),
        ({"key": "a{b}"}, ValueError, "'{'"),
        ({"key": "a|b"}, ValueError, "'|'"),
        ({"key": 3}, TypeError, "key"),
        ({"max_size": 0}, ValueError, "max_size"),
        ({"max_size": 2.5}, TypeError, "max_size"),
        ({"lease": 0}, ValueError, "lease"),
        ({"lease": "long"}, TypeError, "lease"),
        ({"timeout": -1}, ValueError, "timeout"),
        ({"prefix": "a{b"}, ValueError, "prefix"),
    ],
)
def test_bad_configuration_is_refused(client: Any, kwargs: dict[str, Any], error: type, match: str) -> None:
    arguments: dict[str, Any] = {"client": client, "key": "config", "max_size": 2, **kwargs}
    with pytest.raises(error, match=match):
        RedisTokenPool(**arguments)
    with pytest.raises(TypeError, match=r"redis\.Redis"):
        RedisTokenPool("localhost", "config", 2)


def no_retries(**kwargs: Any) -> Any:
    """A green client that fails at once instead of retrying with backoff."""
    return green_redis.Redis(retry=green_redis.retry.Retry(green_redis.backoff.NoBackoff(), 0), **kwargs)


def test_unreachable_redis_is_a_backend_error_never_an_admission(server: RedisServer) -> None:
    nowhere = no_retries(host="127.0.0.1", port=1, socket_connect_timeout=1)
    with pytest.raises(BackendError) as caught:
        RedisTokenPool(nowhere, "down", 2)
    assert isinstance(caught.value.cause, green_redis.ConnectionError)
    assert isinstance(caught.value.__cause__, green_redis.ConnectionError)


def test_redis_going_away_fails_gets_with_backend_error(server: RedisServer, client: Any) -> None:
    client = no_retries(host=server.host, port=server.port)
    pool = RedisTokenPool(client, "goes-away", 2)
    token = pool.get()
    server.kill()
    try:
        with pytest.raises(BackendError):
            pool.get()
        with pytest.raises(BackendError):
            pool.put(token)
    finally:
        server.start()
    pool = RedisTokenPool(client, "goes-away", 2)
    pool.put(pool.get())


# ----------------------------------------------------------------------
# @pooled


def test_pooled_key_templates_make_one_pool_per_resolved_key(client: Any) -> None:
    inside = Event()
    release = Event()

    @pooled("user-{user_id}", max_size=1, client=client)
    def work(user_id: str, payload: str = "x") -> str:
        if payload == "block":
            inside.send()
            release.wait()
        return f"{user_id}:{payload}"

    holder = eventlet.spawn(work, "1", payload="block")
    inside.wait()
    assert work.size("1") == 1
    assert work.size(user_id="2") == 0
    assert work("1") is None  # full: no on_full, so None without running
    assert work("2", "y") == "2:y"  # another user, another pool
    release.send()
    assert holder.wait() == "1:block"
    assert work.size("1") == 0
    assert work.__wrapped__.__name__ == "work"


def test_pooled_on_full_and_raise_on_full(client: Any) -> None:
    seen: list[tuple[Any, ...]] = []

    def later(*args: Any, **kwargs: Any) -> str:
        seen.append((args, kwargs))
        return "rescheduled"

    @pooled("jobs", max_size=1, client=client, on_full=later)
    def job(n: int, *, urgent: bool = False) -> str:
        return str(n)

    @pooled("jobs", max_size=1, client=client, raise_on_full=True)
    def strict(n: int) -> str:
        return str(n)

    token = RedisTokenPool(client, "jobs", 1).get()
    assert job(7, urgent=True) == "rescheduled"
    assert seen == [((7,), {"urgent": True})]
    with pytest.raises(PoolTimeout):
        strict(1)
    token.pool.put(token)
    assert job(8) == "8"
    assert strict(9) == "9"


def test_pooled_releases_the_slot_when_the_function_raises(client: Any) -> None:
    @pooled("raiser", max_size=1, client=client, raise_on_full=True)
    def boom() -> None:
        raise KeyError("boom")

    for _ in range(3):  # would be full the second time if the slot leaked
        with pytest.raises(KeyError):
            boom()
    assert boom.size() == 0


def test_pooled_waits_up_to_its_timeout(client: Any) -> None:
    @pooled("patient", max_size=1, client=client, timeout=5, raise_on_full=True)
    def slow(gate: Event) -> str:
        gate.wait()
        return "done"

    gate = Event()
    first = eventlet.spawn(slow, gate)
    wait_until(lambda: slow.size(gate) == 1)
    second = eventlet.spawn(slow, gate)
    wait_until(lambda: RedisTokenPool(client, "patient", 1).waiting() == 1)
    gate.send()
    assert first.wait() == "done"
    assert second.wait() == "done"


def test_pooled_bad_templates_and_options(client: Any) -> None:
    def f(user_id: str) -> None:
        return None

    with pytest.raises(ValueError, match="not a parameter"):
        pooled("user-{uid}", max_size=1, client=client)(f)
    with pytest.raises(ValueError, match="positional"):
        pooled("user-{}", max_size=1, client=client)(f)
    with pytest.raises(ValueError, match="positional"):
        pooled("user-{0}", max_size=1, client=client)(f)
    with pytest.raises(ValueError, match=r"'\|'"):
        pooled("a|{user_id}", max_size=1, client=client)(f)
    with pytest.raises(ValueError, match="bad key template"):
        pooled("user-{user_id", max_size=1, client=client)(f)
    with pytest.raises(ValueError, match="max_size"):
        pooled("k", max_size=0, client=client)
    with pytest.raises(ValueError, match="not both"):
        pooled("k", max_size=1, client=client, on_full=print, raise_on_full=True)
    with pytest.raises(TypeError, match="on_full"):
        pooled("k", max_size=1, client=client, on_full="later")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"redis\.Redis"):
        pooled("k", max_size=1, client=None)
    with pytest.raises(ValueError, match="timeout"):
        pooled("k", max_size=1, client=client, timeout=None)  # type: ignore[arg-type]
    attribute = pooled("user-{user_id.real}", max_size=1, client=client)(lambda user_id: user_id)
    assert attribute(5) == 5
    resolved_badly = pooled("user-{user_id}", max_size=1, client=client)(f)
    with pytest.raises(ValueError, match="must not contain"):
        resolved_badly("{evil}")


def test_after_redis_loses_its_data_newcomers_wait_a_lease_while_holders_rejoin(client: Any) -> None:
    pool = RedisTokenPool(client, "recover", 2, lease=0.6)
    held = pool.get()
    client.flushall()  # what a restart without persistence does
    # The first call after the loss starts the recovery window: nothing is
    # granted, and the holder re-registers its lease at its next renewal.
    with pytest.raises(PoolTimeout):
        pool.get(block=False)
    assert pool.free() == 0
    wait_until(lambda: pool.size() == 1)  # rejoined at a renewal (every 0.2 s)
    with eventlet.Timeout(5):
        late = pool.get(timeout=3)  # granted once the window (one lease) is over
    assert pool.size() == 2
    pool.put(held)  # its lease survived the loss
    pool.put(late)


@pytest.mark.parametrize("full", [False, True], ids=["granted", "queued"])
def test_get_interrupted_after_redis_answered_keeps_nothing(client: Any, full: bool) -> None:
    pool = RedisTokenPool(client, "interrupted", 1)
    held = pool.get() if full else None
    real = pool._call

    def acquire_then_stall(name: str, *args: Any) -> Any:
        answer = real(name, *args)  # Redis granted or queued us...
        if name == "ACQUIRE":
            eventlet.sleep(10)  # ...and the caller is interrupted before it knows
        return answer

    pool._call = acquire_then_stall  # type: ignore[method-assign]
    with pytest.raises(eventlet.Timeout), eventlet.Timeout(0.05):
        pool.get()
    pool._call = real  # type: ignore[method-assign]
    assert pool.size() == (1 if full else 0)
    assert pool.waiting() == 0
    if held is not None:
        pool.put(held)
    assert pool.free() == 1


@pytest.mark.parametrize("seed", [1, 2])
def test_storm_of_greenthreads_with_timeouts_and_kills(server: RedisServer, client: Any, seed: int) -> None:
    rng = random.Random(seed)
    # A thousand greenthreads share 50 connections: redis-py's default pool
    # would refuse the 101st with MaxConnectionsError (a BackendError here).
    shared = green_redis.Redis(
        connection_pool=green_redis.BlockingConnectionPool(
            host=server.host, port=server.port, max_connections=50, timeout=30
        )
    )
    pool = RedisTokenPool(shared, f"storm-{seed}", 5)
    inside = 0
    most = 0
    served = 0
    timeouts = 0

    def worker() -> None:
        nonlocal inside, most, served, timeouts
        for _ in range(3):
            try:
                token = pool.get(rng.random() > 0.1, rng.choice([None, 0.005, 0.05]))
            except PoolTimeout:
                timeouts += 1
                continue
            inside += 1
            most = max(most, inside)
            try:
                for _ in range(rng.randrange(3)):
                    eventlet.sleep(0)
            finally:
                inside -= 1
                pool.put(token)
            served += 1

    with eventlet.Timeout(60):
        greenthreads = [eventlet.spawn(worker) for _ in range(1000)]
        for index, gt in enumerate(greenthreads):
            if index % 7 == 0:
                eventlet.sleep(0)
                gt.kill()  # mid-get, mid-wait, or while holding
            with contextlib.suppress(GreenletExit):
                gt.wait()
    wait_until(lambda: pool.size() == 0 and pool.waiting() == 0, 10)
    assert most <= 5
    assert served > 500
    assert timeouts > 0
    assert not pool._local  # no local waiter left behind
    assert pool.free() == 5
    pool.close()
    shared.close()


# ---------------------------------------------------------------------------
# safety: server pauses, fencing, validity


def test_a_server_pause_shorter_than_the_lease_admits_nobody_else() -> None:
    lease = 1.5  # renewed every 0.5 s
    with RedisServer() as srv:
        holder_client = green_redis.Redis(host=srv.host, port=srv.port)
        waiter_client = green_redis.Redis(host=srv.host, port=srv.port)
        holder_pool = RedisTokenPool(holder_client, "pause", 1, lease=lease)
        waiter_pool = RedisTokenPool(waiter_client, "pause", 1, lease=lease)
        renewed: list[float] = []
        real_heartbeat = holder_pool._heartbeat

        def heartbeat() -> None:
            real_heartbeat()
            renewed.append(eventlet.hubs.get_hub().clock())

        holder_pool._heartbeat = heartbeat  # type: ignore[method-assign]
        token = holder_pool.get()
        waiter = eventlet.spawn(waiter_pool.get, True, 30)
        wait_until(lambda: waiter_pool.waiting() == 1)
        # Pause just before the next renewal is due, for longer than the
        # lease has left: without the catch-up, the holder's lease would
        # expire the moment the server runs again, and the waiter get in.
        wait_until(lambda: len(renewed) >= 2)
        last = renewed[-1]
        wait_until(lambda: eventlet.hubs.get_hub().clock() - last >= 0.4 or renewed[-1] != last)
        srv.pause()
        try:
            eventlet.sleep(1.3)  # the lease had at most 1.1 s left
        finally:
            srv.resume()
        # The holder renews on; nobody else may hold the slot meanwhile.
        for _ in range(int(2 * lease / 0.1)):
            eventlet.sleep(0.1)
            assert not waiter.dead, "a second holder was admitted"
            assert holder_pool.size() == 1
        holder_pool.put(token)  # still its lease: no LeaseLost
        with eventlet.Timeout(10):
            got = waiter.wait()
        waiter_pool.put(got)
        for pool in (holder_pool, waiter_pool):
            pool.close()
        eventlet.sleep(0.01)
        holder_client.close()
        waiter_client.close()


def test_fences_grow_with_every_grant_even_across_a_data_loss(client: Any) -> None:
    pool = RedisTokenPool(client, "fence", 1, lease=0.3)
    first = pool.get()
    waiter = eventlet.spawn(pool.get, True, 10)
    wait_until(lambda: pool.waiting() == 1)
    pool.put(first)  # the waiter's grant comes through its inbox
    second = waiter.wait()
    pool.put(second)
    third = pool.get()
    assert first.fence < second.fence < third.fence
    pool.put(third)
    client.flushall()  # Redis loses everything, the counter too
    with eventlet.Timeout(10):
        fourth = pool.get()  # after the recovery window
    assert fourth.fence > third.fence
    pool.put(fourth)


def test_valid_until_bounds_the_lease_and_moves_with_renewals(client: Any) -> None:
    lease = 0.6
    pool = RedisTokenPool(client, "valid", 1, lease=lease)
    before = time.monotonic()
    token = pool.get()
    after = time.monotonic()
    assert before + lease <= token.valid_until <= after + lease
    first = token.valid_until
    wait_until(lambda: token.valid_until > first)  # renewed every 0.2 s
    assert token.valid_until <= time.monotonic() + lease
    waiter = eventlet.spawn(pool.get, True, 10)
    wait_until(lambda: pool.waiting() == 1)
    eventlet.sleep(lease)  # it waits longer than a lease...
    put_at = time.monotonic()
    pool.put(token)
    waited = waiter.wait()
    # ...yet its own lease runs from its grant, at put() time (give or take
    # the millisecond the server's clock rounds to)
    assert put_at + lease - 0.25 <= waited.valid_until <= time.monotonic() + lease + 0.002
    pool.put(waited)


def test_a_prefix_with_the_line_separator_is_refused(client: Any) -> None:
    with pytest.raises(ValueError, match="prefix must be a non-empty str without"):
        RedisTokenPool(client, "sep", 1, prefix="a|b")
    with pytest.raises(TypeError, match="prefix must be a str"):
        RedisTokenPool(client, "sep", 1, prefix=3)  # type: ignore[arg-type]


def test_a_user_without_script_permission_is_told_so(server: RedisServer, client: Any) -> None:
    client.execute_command("ACL", "SETUSER", "noscripts", "on", "nopass", "~*", "+@all", "-@scripting")
    limited = green_redis.Redis(host=server.host, port=server.port, username="noscripts", password="")
    try:
        with pytest.raises(BackendError, match="Redis refused \\(no permission\\)") as info:
            RedisTokenPool(limited, "acl", 1)
        assert "unreachable" not in str(info.value)
    finally:
        limited.close()
        client.execute_command("ACL", "DELUSER", "noscripts")


def test_every_key_a_script_touches_is_one_of_its_keys() -> None:
    # Redis Cluster and ACL key patterns need every key a script touches to
    # come in KEYS: each redis.call names one of the KEYS variables.
    from eventlet_pools.redis import _scripts

    key_names = {"H", "Q", "W", "S", "F", "G"}
    for name in _scripts.__all__:
        source = getattr(_scripts, name)
        calls = re.findall(r"redis\.call\('(\w+)'(?:,\s*([^,)]+))?", source)
        assert calls, name
        for command, first in calls:
            if command == "TIME":
                continue
            assert first.strip() in key_names, (name, command, first)
    assert "KEYS[6]" in _scripts.ACQUIRE


def test_a_user_limited_to_the_pools_keys_can_use_it(server: RedisServer, client: Any) -> None:
    pattern = "~eventlet_pools:{limited}:*"
    client.execute_command("ACL", "SETUSER", "limited", "on", "nopass", pattern, "+@all")
    limited = green_redis.Redis(host=server.host, port=server.port, username="limited", password="")
    try:
        pool = RedisTokenPool(limited, "limited", 1, lease=0.6)
        held = pool.get()
        waiter = eventlet.spawn(pool.get, True, 10)
        wait_until(lambda: pool.waiting() == 1)
        pool.put(held)  # the grant travels on the pool's own stream
        pool.put(waiter.wait())
        pool.close()
    finally:
        limited.close()
        client.execute_command("ACL", "DELUSER", "limited")
