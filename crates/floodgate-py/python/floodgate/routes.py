"""Per-route limits, in the manner of slowapi and fastapi-limiter: a
decorator (``@limiter.limit()``) of an endpoint that takes the Starlette
``request``, and a FastAPI dependency (``Depends(limiter.dependency())``).

Which limits apply is the policy's to say, as in the gateway: a
per-route limit is a rule whose ``match`` names the route's path (and
methods). The decorator or dependency decides the request on the rules
that match it, with ``cost`` (default 1). A refused request is answered
with the gateway's status, headers and JSON body; an allowed one's
response gets the rate-limit headers.

The dependency raises :class:`RateLimited`; :func:`install` registers the
handler that turns it into the gateway's answer.
"""

import functools
import inspect
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response

from ._native import Decision
from .asgi import request_parts
from .limiter import Limiter


class RateLimited(Exception):
    """A request the limiter refused; ``decision`` says why."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"refused with status {decision.status}")
        self.decision = decision

    def response(self) -> Response:
        """The gateway's answer."""
        return refusal(self.decision)


def refusal(d: Decision) -> Response:
    """The response of a refused decision: status, headers and body as the
    gateway sends them."""
    headers = {k: v for k, v in d.headers if k != "content-type"}
    return Response(d.body or b"", status_code=d.status, headers=headers, media_type="application/json")


async def decide(limiter: Limiter, request: Request, cost: int = 1) -> Decision:
    """Decides a Starlette request as the middleware does."""
    peer, method, path, headers = request_parts(request.scope)
    return await limiter.check_http_async(peer, method, path, headers, cost)


async def rate_limited_handler(request: Request, exc: Exception) -> Response:
    """The exception handler of :class:`RateLimited`."""
    assert isinstance(exc, RateLimited)
    return exc.response()


def install(app: Any) -> None:
    """Registers :func:`rate_limited_handler` on a Starlette or FastAPI app."""
    app.add_exception_handler(RateLimited, rate_limited_handler)


def dependency(limiter: Limiter, *, cost: int = 1) -> Callable[..., Any]:
    """A FastAPI dependency: refuses by raising :class:`RateLimited` (see
    :func:`install`), and adds the rate-limit headers to the response of an
    allowed request. It gives the :class:`Decision`."""

    async def floodgate_limit(request: Request, response: Response) -> Decision:
        d = await decide(limiter, request, cost)
        if not d.allowed:
            raise RateLimited(d)
        for k, v in d.headers:
            response.headers[k] = v
        return d

    return floodgate_limit


def limit(limiter: Limiter, *, cost: int = 1) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator of an ``async`` endpoint with a parameter ``request``:
    a refused request gets the gateway's answer without calling it; the
    response of an allowed one (when the endpoint returns a ``Response``)
    gets the rate-limit headers."""

    def decorate(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(endpoint)
        if "request" not in sig.parameters:
            raise TypeError(f"{endpoint.__name__} must take a `request` parameter")

        @functools.wraps(endpoint)
        async def limited(*args: Any, **kwargs: Any) -> Any:
            request = sig.bind_partial(*args, **kwargs).arguments["request"]
            d = await decide(limiter, request, cost)
            if not d.allowed:
                return refusal(d)
            result = endpoint(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, Response):
                for k, v in d.headers:
                    result.headers[k] = v
            return result

        return limited

    return decorate
