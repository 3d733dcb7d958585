"""An app limited by the config file a gateway runs with
(FLOODGATE_CONFIG): the same rules, store and trusted proxies."""

import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import floodgate
from floodgate.asgi import FloodgateMiddleware


async def data(request):
    return JSONResponse({"data": "ok"})


limiter = floodgate.Limiter.from_file(os.environ["FLOODGATE_CONFIG"])
app = Starlette(routes=[Route("/api/v1/data", data)])
app.add_middleware(FloodgateMiddleware, limiter=limiter)
