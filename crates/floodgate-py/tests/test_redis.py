"""The Redis store: one count across limiters, async checks that leave
the event loop free, and the failure policy when Redis is away."""

import asyncio
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

import floodgate

HOT = {
    "rules": [
        {
            "name": "hot",
            "key": "ip",
            "limits": [{"algorithm": "fixed_window", "limit": 80, "window": "1h"}],
        }
    ]
}


def exact_store(redis, prefix):
    """A store whose slow answers (a loaded machine) wait rather than be
    decided by the failure policy: exactness is Redis' to show."""
    return floodgate.RedisStore(redis.url, key_prefix=prefix, timeout="5s", on_failure="fail_closed")


def test_two_limiters_on_one_redis_enforce_one_count(redis, prefix):
    a = floodgate.Limiter(HOT, store=exact_store(redis, prefix))
    b = floodgate.Limiter(HOT, store=exact_store(redis, prefix))
    assert a.connected and b.connected
    got = [(a if i % 2 else b).check("/", ip="192.0.2.1").allowed for i in range(100)]
    assert sum(got) == 80 and got[:80] == [True] * 80
    # The state is in Redis, under the prefix.
    assert redis.cli("--scan", "--pattern", prefix + "*")


def test_a_hot_key_from_64_threads_admits_exactly_the_limit(redis, prefix):
    limiter = floodgate.Limiter(HOT, store=exact_store(redis, prefix))
    with ThreadPoolExecutor(64) as pool:
        got = list(pool.map(lambda _: limiter.check("/", ip="192.0.2.2").allowed, range(2000)))
    assert sum(got) == 80


def test_async_checks_run_together_and_admit_exactly_the_limit(redis, prefix):
    limiter = floodgate.Limiter(HOT, store=exact_store(redis, prefix))

    async def burst():
        sem = asyncio.Semaphore(64)

        async def one():
            async with sem:
                return (await limiter.check_async("/", ip="192.0.2.3")).allowed

        return await asyncio.gather(*(one() for _ in range(2000)))

    got = asyncio.run(burst())
    assert sum(got) == 80
    d = limiter.check("/", ip="192.0.2.3")
    assert d.status == 429 and d.remaining == 0 and d.retry_after > 0


def test_async_errors_reach_the_caller(redis, prefix):
    limiter = floodgate.Limiter(HOT, store=exact_store(redis, prefix))

    async def bad():
        try:
            await limiter.check_async("no-slash", ip="192.0.2.4")
        except ValueError as e:
            return str(e)

    assert "must start with /" in asyncio.run(bad())


def closed_port_store(**kw):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return floodgate.RedisStore(f"redis://127.0.0.1:{port}", connect_timeout="100ms", **kw)


def test_without_redis_the_failure_policy_decides():
    # fail_closed: denied as unavailable (503, not a limit reached), to
    # retry once the breaker's cooldown is over.
    store = closed_port_store(on_failure="fail_closed", breaker_cooldown="3s")
    closed = floodgate.Limiter(HOT, store=store)
    assert not closed.connected
    d = closed.check("/", ip="192.0.2.5")
    assert (d.status, d.retry_after) == (503, 3)
    assert json.loads(d.body)["error"] == "limiter_unavailable"
    opened = floodgate.Limiter(HOT, store=closed_port_store(on_failure="fail_open"))
    assert all(opened.check("/", ip="192.0.2.5").allowed for _ in range(100))
    # local: the limit divided by local_divisor, counted in this process.
    local = floodgate.Limiter(HOT, store=closed_port_store(on_failure="local", local_divisor=8))
    assert sum(local.check("/", ip="192.0.2.5").allowed for _ in range(20)) == 10


def test_fail_closed_status_sets_the_status_of_a_fail_closed_denial(tmp_path):
    store = closed_port_store(on_failure="fail_closed", breaker_cooldown="2s", fail_closed_status=429)
    d = floodgate.Limiter(HOT, store=store).check("/", ip="192.0.2.8")
    assert (d.status, d.retry_after) == (429, 2)
    assert json.loads(d.body)["error"] == "limiter_unavailable"
    assert dict(d.headers)["retry-after"] == "2"
    # The gateway's config file says it the same way.
    section = store.section()
    path = tmp_path / "floodgate.yaml"
    path.write_text(
        "store:\n"
        f"  kind: redis\n  url: {section['url']}\n  connect_timeout: 100ms\n"
        "  on_failure: fail_closed\n  fail_closed_status: 429\n"
        "rules:\n  - name: hot\n    key: ip\n"
        "    limits: [ { algorithm: fixed_window, limit: 80, window: 1h } ]\n"
    )
    assert floodgate.Limiter.from_file(path).check("/", ip="192.0.2.8").status == 429
    # 503 unless set; nothing else.
    assert floodgate.Limiter(HOT, store=closed_port_store(on_failure="fail_closed")).check("/").status == 503
    with pytest.raises(floodgate.PolicyError, match="must be 503 or 429") as e:
        floodgate.Limiter(HOT, store=closed_port_store(fail_closed_status=404))
    assert e.value.field == "store.fail_closed_status"


def test_a_rules_own_failure_mode_wins(redis):
    policy = {"rules": [dict(HOT["rules"][0], on_store_failure="fail_closed")]}
    limiter = floodgate.Limiter(policy, store=closed_port_store(on_failure="fail_open"))
    assert limiter.check("/", ip="192.0.2.6").status == 503


def test_one_limiter_serves_one_event_loop_after_another(redis, prefix):
    limiter = floodgate.Limiter(HOT, store=exact_store(redis, prefix))

    async def some(n):
        return [(await limiter.check_async("/", ip="192.0.2.7")).allowed for _ in range(n)]

    # Each asyncio.run is a new loop: the limiter's answers follow it.
    assert asyncio.run(some(50)) == [True] * 50
    assert asyncio.run(some(40)) == [True] * 30 + [False] * 10


def test_the_event_loop_runs_on_while_redis_answers(redis, prefix):
    limiter = floodgate.Limiter(HOT, store=exact_store(redis, prefix))

    async def run():
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        got = await asyncio.gather(*(limiter.check_async("/", ip=f"192.0.2.{i}") for i in range(100)))
        stop.set()
        await task
        return got, ticks

    got, ticks = asyncio.run(run())
    assert all(d.allowed for d in got)
    # The ticker ran between the checks: the loop was never blocked on Redis.
    assert ticks > 1


def test_a_forked_child_decides_on_a_limiter_of_its_own(redis, prefix):
    import os
    import time

    limiter = floodgate.Limiter(HOT, store=exact_store(redis, prefix))
    assert limiter.check("/", ip="192.0.2.40").allowed
    pid = os.fork()
    if pid == 0:  # the child: its runtime thread was rebuilt after fork
        d = limiter.check("/", ip="192.0.2.40")
        os._exit(0 if d.allowed and d.remaining == 78 else 1)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            raise AssertionError("the child's check did not answer")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent goes on, on the same count.
    assert limiter.check("/", ip="192.0.2.40").remaining == 77
