"""Seed app 1: a FastAPI app limited per client IP, 100 tokens refilled at
1/s on /api/v1/data, in memory. Behind a proxy, list it in
TRUSTED_PROXIES (comma-separated CIDRs) and run uvicorn with
--no-proxy-headers, so the client IP is taken from X-Forwarded-For only
when the peer is that proxy.

    uvicorn fastapi_per_ip:app --no-proxy-headers
"""

import os

from fastapi import FastAPI

import floodgate
from floodgate.asgi import FloodgateMiddleware

limiter = floodgate.Limiter(
    {
        "rules": [
            {
                "name": "data",
                "match": {"path": "/api/v1/data"},
                "key": "ip",
                "limits": [{"algorithm": "token_bucket", "capacity": 100, "refill": "1/s"}],
            }
        ]
    },
    trusted_proxies=[p for p in os.environ.get("TRUSTED_PROXIES", "").split(",") if p],
)

app = FastAPI()
app.add_middleware(FloodgateMiddleware, limiter=limiter)


@app.get("/api/v1/data")
async def data():
    return {"data": "ok"}


@app.get("/healthz")
async def healthz():
    return {"ok": True}
