"""Seed app 2: a FastAPI app limited per API key on Redis, 40 tokens
refilled at 10/s on GET /resource, with a route dependency. The counts
live in Redis under the gateway's keys: gateways and app replicas on the
same Redis share them.

    REDIS_URL=redis://127.0.0.1:6379 uvicorn fastapi_per_key_redis:app
"""

import os

from fastapi import Depends, FastAPI

import floodgate
from floodgate.routes import install

limiter = floodgate.Limiter(
    {
        "identity": {"api_key_header": "X-API-Key"},
        "rules": [
            {
                "name": "resource",
                "match": {"path": "/resource", "methods": ["GET"]},
                "key": "api_key",
                "limits": [{"algorithm": "token_bucket", "capacity": 40, "refill": "10/s"}],
            }
        ],
    },
    store=floodgate.RedisStore(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379"),
        key_prefix=os.environ.get("FLOODGATE_KEY_PREFIX", "fg:"),
        on_failure="local",
    ),
)

app = FastAPI()
install(app)


@app.get("/resource", dependencies=[Depends(limiter.dependency())])
async def resource():
    return {"resource": "ok"}
