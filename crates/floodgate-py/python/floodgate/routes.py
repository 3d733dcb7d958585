"""Per-route limits, in the manner of slowapi and fastapi-limiter: a
decorator (``@limiter.limit()``) of an endpoint that takes the Starlette
``request``, and a FastAPI dependency (``Depends(limiter.dependency())``).

Which limits apply is the policy's to say, as in the gateway: a
per-route limit is a rule whose ``match`` names the route's path (and
methods). The decorator or dependency decides the request on the rules
that match it, with ``cost`` (default 1). A refused request is answered
with the gateway's status, headers and JSON body; an allowed one's
response gets the rate-limit headers.

Given a rate (``"10/minute"``, ``"100 per hour"``, ``"5/30s"``), they
decide on that limit alone, as slowapi does: a fixed window of that size,
per client (``key``, default ``ip``) and per route (method and path), on
the limiter's store, proxies and clock (:func:`rate_policy` is the rule).

The dependency raises :class:`RateLimited`; :func:`install` registers the
handler that turns it into the gateway's answer.

An allowed request holds the slots of its concurrency limits while the
endpoint runs: the decorator gives them back when the endpoint returns
(or raises), the dependency when FastAPI closes it (after the endpoint).
"""

import functools
import inspect
import re
from typing import Any, AsyncIterator, Callable, Dict, Optional, Union

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


_UNITS = {
    "s": "s", "sec": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "minute": "m", "minutes": "m",
    "h": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+)\s*$")


def rate_policy(rate: str, key: Union[str, list] = "ip") -> Dict[str, Any]:
    """The policy of a rate written as slowapi writes one: ``N/period`` or
    ``N per period``, the period a unit (``second``, ``minute``, ``hour``,
    ``day``, or ``s``, ``m``, ``h``, ``d``), a count of units (``5/30
    seconds``) or a duration (``5/30s``, ``1/500ms``)."""
    m = _RATE.match(rate.lower())
    if not m:
        raise ValueError(f"`{rate}` is not a rate like 10/minute")
    amount, count, unit = m.groups()
    if unit in _UNITS:
        window = f"{count or 1}{_UNITS[unit]}"
    elif not count:
        raise ValueError(f"`{rate}`: unknown period `{unit}`")
    else:
        window = f"{count}{unit}"  # a duration: the policy checks its unit
    keys = [key] if isinstance(key, str) else list(key)
    name = f"route-{amount}-per-{window}"
    return {
        "rules": [
            {
                "name": name,
                "key": keys + ["route"],
                "limits": [{"name": name, "algorithm": "fixed_window", "limit": int(amount), "window": window}],
            }
        ]
    }


def _for_rate(limiter: Limiter, rate: Optional[str], key: Union[str, list]) -> Limiter:
    if rate is None:
        return limiter
    return limiter.derive(rate_policy(rate, key), name=f"rate {rate}")


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


def dependency(
    limiter: Limiter, rate: Optional[str] = None, *, key: Union[str, list] = "ip", cost: int = 1
) -> Callable[..., Any]:
    """A FastAPI dependency: refuses by raising :class:`RateLimited` (see
    :func:`install`), and adds the rate-limit headers to the response of an
    allowed request. It gives the :class:`Decision`, and gives its
    concurrency slots back when FastAPI closes it."""
    limiter = _for_rate(limiter, rate, key)

    async def floodgate_limit(request: Request, response: Response) -> AsyncIterator[Decision]:
        d = await decide(limiter, request, cost)
        if not d.allowed:
            raise RateLimited(d)
        for k, v in d.headers:
            response.headers[k] = v
        try:
            yield d
        finally:
            d.release_nowait()

    return floodgate_limit


def limit(
    limiter: Limiter, rate: Optional[str] = None, *, key: Union[str, list] = "ip", cost: int = 1
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator of an ``async`` endpoint with a parameter ``request``:
    a refused request gets the gateway's answer without calling it; the
    response of an allowed one (when the endpoint returns a ``Response``)
    gets the rate-limit headers."""
    limiter = _for_rate(limiter, rate, key)

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
            try:
                result = endpoint(*args, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
            finally:
                d.release_nowait()
            if isinstance(result, Response):
                for k, v in d.headers:
                    result.headers[k] = v
            return result

        return limited

    return decorate
