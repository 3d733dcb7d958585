"""A synchronous check on Redis decides on the calling thread, on a
connection of its own (no hand-over to the limiter's thread): one count
with the async checks, the connections bounded, and a Redis that stops
answering decided by the failure policy and the breaker, as on the async
way."""

import asyncio
import signal
import threading
import time

import pytest

import floodgate
from conftest import start_redis, wait_for

HOT = {
    "rules": [
        {
            "name": "hot",
            "key": "ip",
            "limits": [{"algorithm": "fixed_window", "limit": 80, "window": "1h"}],
        }
    ]
}


@pytest.fixture
def own_redis():
    """A server of this test's own: its client count and its pauses are
    nobody else's."""
    r = start_redis()
    yield r
    r.proc.send_signal(signal.SIGCONT)
    r.proc.terminate()
    r.proc.wait(10)


def clients(r) -> int:
    info = r.cli("INFO", "clients")
    line = next(x for x in info.splitlines() if x.startswith("connected_clients:"))
    return int(line.split(":")[1]) - 1  # not redis-cli's own


def test_sync_and_async_checks_share_one_count_on_connections_of_their_own(own_redis):
    limiter = floodgate.Limiter(
        HOT, store=floodgate.RedisStore(own_redis.url, connections=1, timeout="5s", on_failure="fail_closed")
    )
    assert limiter.connected and clients(own_redis) == 1, "the limiter's thread's one connection"
    got = [limiter.check("/", ip="192.0.2.1").allowed for _ in range(50)]
    assert clients(own_redis) == 2, "one more: the calling thread's"

    async def some(n):
        return [(await limiter.check_async("/", ip="192.0.2.1")).allowed for _ in range(n)]

    got += asyncio.run(some(40))
    assert clients(own_redis) == 2, "async checks go through the limiter's thread"
    assert sum(got) == 80 and got[:80] == [True] * 80
    # Threads checking at once: each on a connection while it waits, 16 at
    # most; the rest through the limiter's thread. One count still.
    barrier = threading.Barrier(24)
    results = []

    def worker():
        barrier.wait()
        results.extend(limiter.check("/", ip="192.0.2.2").allowed for _ in range(10))

    threads = [threading.Thread(target=worker) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 80 and len(results) == 240
    assert 2 <= clients(own_redis) <= 1 + 16


def test_a_redis_that_stops_answering_is_decided_by_the_failure_policy(own_redis):
    def limiter(**kw):
        store = floodgate.RedisStore(own_redis.url, timeout="300ms", breaker_failures=2, breaker_cooldown="60s", **kw)
        lim = floodgate.Limiter(HOT, store=store)
        assert lim.check("/", ip="192.0.2.3").allowed, "connected, on its own connection"
        return lim

    closed = limiter(on_failure="fail_closed", fail_closed_status=429)
    opened = limiter(on_failure="fail_open")
    local = limiter(on_failure="local", local_divisor=16)
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        d = closed.check("/", ip="192.0.2.3")
        assert (d.status, d.allowed, d.retry_after) == (429, False, 60)
        assert b"limiter_unavailable" in d.body
        assert opened.check("/", ip="192.0.2.3").allowed
        # local: 80 / 16, counted in this process.
        started = time.monotonic()
        assert sum(local.check("/", ip="192.0.2.3").allowed for _ in range(8)) == 5
        # Two calls timed out, then the breaker opened: the others did not
        # wait for Redis.
        assert time.monotonic() - started < 2 * 0.3 + 1.5
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)


def test_after_redis_comes_back_the_breakers_probe_closes_it(own_redis):
    store = floodgate.RedisStore(
        own_redis.url, timeout="300ms", on_failure="fail_closed", breaker_failures=1, breaker_cooldown="400ms"
    )
    limiter = floodgate.Limiter(HOT, store=store)
    assert limiter.check("/", ip="192.0.2.4").allowed
    own_redis.proc.send_signal(signal.SIGSTOP)
    try:
        assert limiter.check("/", ip="192.0.2.4").status == 503
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    # A probe goes an eighth of the cool-down after the breaker opened;
    # its success closes the breaker, and the count is Redis' again: the
    # first check, the one that timed out (Redis ran it once resumed: a
    # call that times out may still count), and the probe.
    def allowed():
        d = limiter.check("/", ip="192.0.2.4")
        return d if d.allowed else None

    assert wait_for("Redis deciding again", 10, allowed).remaining == 77
