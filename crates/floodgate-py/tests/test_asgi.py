"""The middleware, the route dependency and the decorator in a real
FastAPI / Starlette app, driven in process through httpx's ASGI
transport."""

import asyncio
import importlib.util
import json
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import floodgate
from floodgate.asgi import FloodgateMiddleware
from floodgate.routes import install

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

TWO = {
    "rules": [
        {
            "name": "data",
            "match": {"path": "/data"},
            "key": "ip",
            "limits": [{"algorithm": "fixed_window", "limit": 2, "window": "1h"}],
        }
    ]
}


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def get_all(app, path, n, client=("203.0.113.1", 40000), headers=None):
    async def run():
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
            return [await c.get(path, headers=headers) for _ in range(n)]

    return asyncio.run(run())


def test_the_middleware_answers_429_as_the_gateway_and_adds_headers():
    limiter = floodgate.Limiter(TWO)
    app = FastAPI()
    app.add_middleware(FloodgateMiddleware, limiter=limiter)

    @app.get("/data")
    async def data(request: Request):
        return {"remaining": request.state.floodgate.remaining}

    @app.get("/free")
    async def free():
        return {"ok": True}

    r = get_all(app, "/data", 3)
    assert [x.status_code for x in r] == [200, 200, 429]
    assert r[0].json() == {"remaining": 1}
    assert r[0].headers["x-ratelimit-limit"] == "2"
    assert r[0].headers["ratelimit-policy"] == '"data";q=2;w=3600'
    assert "retry-after" not in r[0].headers
    assert r[2].headers["content-type"] == "application/json"
    assert int(r[2].headers["retry-after"]) > 0
    assert r[2].json()["error"] == "rate_limit_exceeded"
    # The same refusal as the Decision carries.
    d = limiter.check("/data", ip="203.0.113.1")
    assert r[2].json().keys() == json.loads(d.body).keys()
    assert {k for k, _ in d.headers} <= set(r[2].headers.keys())
    # A path no rule matches has no limit and no headers.
    free = get_all(app, "/free", 5)
    assert all(x.status_code == 200 for x in free)
    assert "x-ratelimit-limit" not in free[0].headers
    # Another client has its own count.
    assert get_all(app, "/data", 1, client=("203.0.113.2", 1))[0].status_code == 200


def test_the_middleware_believes_forwarding_headers_from_trusted_proxies_only():
    limiter = floodgate.Limiter(TWO, trusted_proxies=["10.0.0.0/8"])
    app = FastAPI()
    app.add_middleware(FloodgateMiddleware, limiter=limiter)

    @app.get("/data")
    async def data():
        return {}

    spoof = {"x-forwarded-for": "192.0.2.200"}
    # An untrusted peer's header is ignored: all three count for the peer.
    r = get_all(app, "/data", 3, client=("198.51.100.1", 1), headers=spoof)
    assert [x.status_code for x in r] == [200, 200, 429]
    # Through the trusted proxy, the forwarded client has its own count.
    r = get_all(app, "/data", 3, client=("10.0.0.1", 1), headers=spoof)
    assert [x.status_code for x in r] == [200, 200, 429]
    r = get_all(app, "/data", 1, client=("10.0.0.1", 1), headers={"x-forwarded-for": "192.0.2.201"})
    assert r[0].status_code == 200


def test_the_route_dependency_refuses_with_the_gateways_answer():
    app = FastAPI()
    install(app)
    limiter = floodgate.Limiter(TWO)

    @app.get("/data")
    async def data(d=Depends(limiter.dependency())):
        return {"limit": d.limit}

    r = get_all(app, "/data", 3)
    assert [x.status_code for x in r] == [200, 200, 429]
    assert r[0].json() == {"limit": 2}
    assert r[1].headers["x-ratelimit-remaining"] == "0"
    assert r[2].json()["error"] == "rate_limit_exceeded"
    assert r[2].headers["retry-after"] == r[2].json()["retry_after"].__str__()


def test_the_decorator_limits_a_starlette_endpoint():
    limiter = floodgate.Limiter(TWO)

    @limiter.limit(cost=2)
    async def data(request):
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/data", data)])
    r = get_all(app, "/data", 2)
    assert [x.status_code for x in r] == [200, 429]
    assert r[0].headers["x-ratelimit-remaining"] == "0"
    assert r[1].json()["error"] == "rate_limit_exceeded"


def test_seed_app_per_ip_admits_100_then_refuses():
    app = load_example("fastapi_per_ip").app
    started = time.monotonic()
    r = get_all(app, "/api/v1/data", 120)
    elapsed = time.monotonic() - started
    allowed = sum(x.status_code == 200 for x in r)
    # The bucket starts full; it refills 1 a second meanwhile.
    assert all(x.status_code == 200 for x in r[:100])
    assert 100 <= allowed <= 100 + int(elapsed) + 1
    refused = [x for x in r if x.status_code == 429]
    assert refused and refused[0].headers["retry-after"] == "1"


def test_seed_app_per_key_on_redis(redis, prefix, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis.url)
    monkeypatch.setenv("FLOODGATE_KEY_PREFIX", prefix)
    app = load_example("fastapi_per_key_redis").app
    started = time.monotonic()
    r = get_all(app, "/resource", 60, headers={"x-api-key": "k-1"})
    elapsed = time.monotonic() - started
    allowed = sum(x.status_code == 200 for x in r)
    # 40 in the bucket, 10 a second refilled meanwhile.
    assert all(x.status_code == 200 for x in r[:40])
    assert 40 <= allowed <= 40 + int(10 * elapsed) + 1
    assert any(x.status_code == 429 for x in r)
    assert r[0].headers["x-ratelimit-limit"] == "40"
    # Another key has its own bucket.
    assert get_all(app, "/resource", 1, headers={"x-api-key": "k-2"})[0].status_code == 200


def test_a_rate_in_code_gives_each_route_its_own_limit_as_slowapi_does():
    limiter = floodgate.Limiter({"rules": []})

    @limiter.limit("2/minute")
    async def a(request):
        return JSONResponse({"a": True})

    @limiter.limit("2/minute")
    async def b(request):
        return JSONResponse({"b": True})

    app = Starlette(routes=[Route("/a", a), Route("/b", b)])
    assert [r.status_code for r in get_all(app, "/a", 3)] == [200, 200, 429]
    # Another route, another count; another client, another count.
    assert [r.status_code for r in get_all(app, "/b", 3)] == [200, 200, 429]
    assert get_all(app, "/a", 1, client=("203.0.113.99", 1))[0].status_code == 200
    r = get_all(app, "/a", 1)[0]
    assert r.headers["ratelimit-policy"] == '"route-2-per-1m";q=2;w=60'


def test_a_rate_in_a_dependency_on_redis(redis, prefix):
    limiter = floodgate.Limiter({"rules": []}, store=floodgate.RedisStore(redis.url, key_prefix=prefix))
    app = FastAPI()
    install(app)

    @app.get("/r", dependencies=[Depends(limiter.dependency("3 per hour", key="api_key"))])
    async def r():
        return {}

    got = get_all(app, "/r", 4, headers={"x-api-key": "k-9"})
    assert [x.status_code for x in got] == [200, 200, 200, 429]
    assert redis.cli("--scan", "--pattern", prefix + "*")


def test_rates_are_read_as_slowapi_writes_them():
    from floodgate.routes import rate_policy

    def window(rate):
        return rate_policy(rate)["rules"][0]["limits"][0]["window"]

    assert [window(r) for r in ["10/minute", "10 per hour", "5/30 seconds", "5/30s", "1/500ms", "3/d"]] == [
        "1m", "1h", "30s", "30s", "500ms", "1d",
    ]
    with pytest.raises(ValueError, match="not a rate"):
        rate_policy("ten a minute")
    with pytest.raises(floodgate.PolicyError, match="unknown unit|not a duration|unit"):
        floodgate.Limiter({"rules": []}).limit("5/3parsecs")
