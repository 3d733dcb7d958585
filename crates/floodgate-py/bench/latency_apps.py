"""The FastAPI app of the latency benchmark (GET /resource, per API key,
on Redis at REDIS_URL), limited by the library VARIANT names: `none` (no
limiter: the baseline), `floodgate` (FloodgateMiddleware, token bucket of
40 refilled at 10/s) or `slowapi` (slowapi on `limits`, 40 per 4 seconds,
fixed window: the nearest it has)."""

import os

from fastapi import FastAPI, Request, Response

VARIANT = os.environ.get("VARIANT", "none")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")

app = FastAPI()

if VARIANT == "floodgate":
    import floodgate
    from floodgate.asgi import FloodgateMiddleware

    limiter = floodgate.Limiter(
        {
            "rules": [
                {
                    "name": "resource",
                    "match": {"path": "/resource", "methods": ["GET"]},
                    "key": "api_key",
                    "limits": [{"algorithm": "token_bucket", "capacity": 40, "refill": "10/s"}],
                }
            ]
        },
        store=floodgate.RedisStore(REDIS_URL, key_prefix="lat:"),
    )
    app.add_middleware(FloodgateMiddleware, limiter=limiter)

    @app.get("/resource")
    async def resource():
        return {"resource": "ok"}

elif VARIANT == "slowapi":
    from slowapi import Limiter, _rate_limit_exceeded_handler
    from slowapi.errors import RateLimitExceeded

    def api_key(request: Request) -> str:
        return request.headers.get("x-api-key") or request.client.host

    slow = Limiter(key_func=api_key, storage_uri=REDIS_URL, strategy="fixed-window", headers_enabled=True)
    app.state.limiter = slow
    app.add_exception_handler(RateLimitExceeded, _rate_limit_exceeded_handler)

    @app.get("/resource")
    @slow.limit("40/4second")
    async def resource(request: Request, response: Response):
        return {"resource": "ok"}

else:

    @app.get("/resource")
    async def resource():
        return {"resource": "ok"}
