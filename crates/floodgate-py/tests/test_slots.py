"""Concurrency limits held as the gateway holds them: an allowed request
takes a slot of every concurrency limit that applies and holds it until
``release()``, ``release_nowait()``, the end of a ``with`` / ``async with``
block, or the decision's end; the middleware and the route helpers hold
it while the request is served. On the memory store and a real Redis;
leases end on a manual clock."""

import asyncio
import gc

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.requests import Request

import floodgate
from floodgate.asgi import FloodgateMiddleware
from floodgate.routes import install

from conftest import wait_for

TWO_IN_FLIGHT = {
    "rules": [
        {
            "name": "jobs",
            "key": "ip",
            "limits": [{"name": "in-flight", "algorithm": "concurrency", "limit": 2, "lease": "60s"}],
        }
    ]
}


def redis_store(redis, prefix, **kw):
    return floodgate.RedisStore(redis.url, key_prefix=prefix, timeout="5s", on_failure="fail_closed", **kw)


@pytest.fixture(params=["memory", "redis"])
def store(request, prefix):
    if request.param == "memory":
        return None
    return redis_store(request.getfixturevalue("redis"), prefix)


def test_a_slot_is_held_until_released(store):
    limiter = floodgate.Limiter(TWO_IN_FLIGHT, store=store)
    a = limiter.check("/", ip="192.0.2.1")
    b = limiter.check("/", ip="192.0.2.1")
    assert (a.allowed, b.allowed, a.held, b.held) == (True, True, 1, 1)
    c = limiter.check("/", ip="192.0.2.1")
    assert c.status == 429 and c.held == 0 and c.algorithm == "concurrency"
    # Another client has slots of its own.
    assert limiter.check("/", ip="192.0.2.2").allowed
    assert a.release() == 1 and a.held == 0
    assert a.release() == 0, "released once"
    d = limiter.check("/", ip="192.0.2.1")
    assert d.allowed and d.held == 1
    assert not limiter.check("/", ip="192.0.2.1").allowed


def test_with_blocks_and_dropped_decisions_give_slots_back(store):
    limiter = floodgate.Limiter(TWO_IN_FLIGHT, store=store)
    with limiter.check("/", ip="192.0.2.3") as d:
        assert d.held == 1
        with limiter.check("/", ip="192.0.2.3") as e:
            assert e.allowed
            assert not limiter.check("/", ip="192.0.2.3").allowed
        # Released (and waited for) at the end of the block.
        assert e.held == 0
        held = limiter.check("/", ip="192.0.2.3")
        assert held.allowed
        assert not limiter.check("/", ip="192.0.2.3").allowed
    assert d.held == 0
    kept = limiter.check("/", ip="192.0.2.3")
    assert kept.allowed and not limiter.check("/", ip="192.0.2.3").allowed
    # A decision no one keeps gives its slot back (sent, not waited for
    # on Redis: the next request sees it once it has landed).
    del held
    gc.collect()
    wait_for("the dropped decision's slot", 10, lambda: limiter.check("/", ip="192.0.2.3").allowed)
    assert kept.held == 1


def test_async_with_releases_without_blocking_the_loop(store):
    limiter = floodgate.Limiter(TWO_IN_FLIGHT, store=store)

    async def run():
        async with await limiter.check_async("/", ip="192.0.2.4") as d:
            assert d.held == 1
            other = await limiter.check_async("/", ip="192.0.2.4")
            assert other.allowed
            refused = await limiter.check_async("/", ip="192.0.2.4")
            assert refused.status == 429
        assert d.held == 0
        other.release_nowait()
        assert other.held == 0
        for _ in range(500):
            again = await limiter.check_async("/", ip="192.0.2.4")
            if again.allowed:
                return again
            await asyncio.sleep(0.01)
        raise AssertionError("the slots released without waiting never came back")

    assert asyncio.run(run()).held == 1


def test_a_denied_request_takes_no_slot_and_a_rate_limit_holds_none(store):
    policy = {
        "rules": [
            {
                "name": "jobs",
                "key": "ip",
                "limits": [
                    {"name": "in-flight", "algorithm": "concurrency", "limit": 5},
                    {"name": "per-hour", "algorithm": "fixed_window", "limit": 2, "window": "1h"},
                ],
            }
        ]
    }
    limiter = floodgate.Limiter(policy, store=store)
    kept = [limiter.check("/", ip="192.0.2.5") for _ in range(4)]
    assert [d.allowed for d in kept] == [True, True, False, False]
    assert [d.held for d in kept] == [1, 1, 0, 0]
    assert kept[2].limit_name == "per-hour"
    rate_only = floodgate.Limiter({"rules": [dict(policy["rules"][0], limits=policy["rules"][0]["limits"][1:])]})
    d = rate_only.check("/", ip="192.0.2.5")
    assert d.allowed and d.held == 0 and d.release() == 0


def test_a_lease_neither_released_nor_renewed_ends(redis, prefix):
    for store in (None, redis_store(redis, prefix, time="caller")):
        clock = floodgate.ManualClock(1_700_000_000_000_000)
        limiter = floodgate.Limiter(TWO_IN_FLIGHT, store=store, clock=clock)
        kept = [limiter.check("/", ip="192.0.2.6") for _ in range(2)]
        assert all(d.held for d in kept)
        assert not limiter.check("/", ip="192.0.2.6").allowed
        clock.advance(59_000_000)
        assert not limiter.check("/", ip="192.0.2.6").allowed
        clock.advance(1_000_001)
        assert limiter.check("/", ip="192.0.2.6").allowed, store
        # Its holder gives back nothing: the slot was free already.
        assert kept[0].release() == 0


def test_check_http_holds_slots_as_the_gateway(store):
    limiter = floodgate.Limiter(TWO_IN_FLIGHT, store=store)
    held = [limiter.check_http("198.51.100.1", "GET", "/", []) for _ in range(2)]
    assert all(d.held == 1 for d in held)
    assert limiter.check_http("198.51.100.1", "GET", "/", []).status == 429
    held[0].release()
    assert limiter.check_http("198.51.100.1", "GET", "/", []).allowed


def served_while_held(app, path="/job"):
    """Two requests: the first held in its endpoint while the second is
    sent, then a third once the first has been answered."""

    async def run():
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            first = asyncio.create_task(c.get(path))
            entered = asyncio.create_task(app.state.entered.wait())
            await asyncio.wait({first, entered}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
            assert entered.done(), f"the first request never reached the endpoint: {first}"
            second = await c.get(path)
            app.state.go.set()
            first = await first
            third = None
            for _ in range(500):
                third = await c.get(path)
                if third.status_code == 200:
                    break
                await asyncio.sleep(0.01)
            return first, second, third

    return asyncio.run(run())


ONE_IN_FLIGHT = {
    "rules": [
        {
            "name": "jobs",
            "match": {"path": "/job"},
            "key": "ip",
            "limits": [{"algorithm": "concurrency", "limit": 1}],
        }
    ]
}


def job_app(limiter, *, middleware=False):
    app = FastAPI()
    app.state.entered, app.state.go = asyncio.Event(), asyncio.Event()
    if middleware:
        app.add_middleware(FloodgateMiddleware, limiter=limiter)
        deps = []
    else:
        install(app)
        deps = [Depends(limiter.dependency())]

    @app.get("/job", dependencies=deps)
    async def job(request: Request):
        if not app.state.entered.is_set():
            app.state.entered.set()
            await app.state.go.wait()
        return {"ok": True}

    return app


@pytest.mark.parametrize("middleware", [True, False], ids=["middleware", "dependency"])
def test_a_request_in_flight_holds_its_slot_until_answered(store, middleware):
    app = job_app(floodgate.Limiter(ONE_IN_FLIGHT, store=store), middleware=middleware)
    first, second, third = served_while_held(app)
    assert first.status_code == 200
    assert second.status_code == 429
    assert second.json()["algorithm"] == "concurrency"
    assert third.status_code == 200, "the slot came back once the first was answered"


def test_the_decorator_holds_the_slot_while_the_endpoint_runs(store):
    limiter = floodgate.Limiter(ONE_IN_FLIGHT, store=store)
    app = FastAPI()
    app.state.entered, app.state.go = asyncio.Event(), asyncio.Event()

    @app.get("/job")
    @limiter.limit()
    async def job(request: Request):
        if not app.state.entered.is_set():
            app.state.entered.set()
            await app.state.go.wait()
        return {"ok": True}

    first, second, third = served_while_held(app)
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)


def test_a_failing_endpoint_gives_its_slot_back(store):
    limiter = floodgate.Limiter(ONE_IN_FLIGHT, store=store)
    app = FastAPI()
    app.add_middleware(FloodgateMiddleware, limiter=limiter)

    @app.get("/job")
    async def job():
        raise RuntimeError("boom")

    async def run():
        transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            assert (await c.get("/job")).status_code == 500
            for _ in range(500):
                r = await c.get("/job")
                if r.status_code != 429:
                    return r.status_code
                await asyncio.sleep(0.01)
            return 429

    assert asyncio.run(run()) == 500, "decided again, not refused for a slot still held"
