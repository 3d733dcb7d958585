"""``FloodgateMiddleware``: the gateway's limiter in front of an ASGI app
(Starlette, FastAPI).

Every HTTP request is decided as the gateway decides it: the client IP is
the socket peer (``scope["client"]``) unless the peer is a trusted proxy,
when it is the right-most address of ``X-Forwarded-For`` / ``Forwarded``
that is not itself one; the API key and user come from the policy's
identity headers. A refused request is answered here with the gateway's
status, headers and JSON body (429, or 401 / 503); an allowed one is held
for a shaping limit's delay, then goes on, and its response gets the
rate-limit headers. An allowed request holds the slots of its concurrency
limits until its response has been sent (or the app has failed), as in
the gateway.

Run uvicorn with ``--no-proxy-headers`` (or ``--forwarded-allow-ips`` set
to the same proxies): otherwise uvicorn rewrites ``scope["client"]`` from
``X-Forwarded-For`` before the middleware sees the peer.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, List, MutableMapping, Optional, Tuple

from ._native import Decision
from .limiter import Limiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_parts(scope: Scope) -> Tuple[Optional[str], str, str, List[Tuple[str, str]]]:
    """The peer, method, path and headers of an HTTP scope."""
    client = scope.get("client")
    peer = client[0] if client else None
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", ())]
    return peer, scope.get("method", "GET"), scope.get("path", "/"), headers


def encoded(headers: List[Tuple[str, str]]) -> List[Tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


async def send_refusal(send: Send, d: Decision) -> None:
    """Answers a refused request as the gateway does."""
    body = d.body or b""
    headers = encoded(d.headers)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": d.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def with_headers(send: Send, extra: List[Tuple[str, str]]) -> Send:
    """``send`` adding ``extra`` to the response's headers (replacing the
    app's own of the same names)."""
    if not extra:
        return send
    names = {k.encode("latin-1") for k, _ in extra}
    added = encoded(extra)

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
            message = dict(message)
            message["headers"] = kept + added
        await send(message)

    return sending


class FloodgateMiddleware:
    """``app.add_middleware(FloodgateMiddleware, limiter=limiter)``.

    ``cost`` is every request's cost (default 1); ``exclude`` lists paths
    never limited (default none). The decision is left in
    ``scope["state"]["floodgate"]`` (``request.state.floodgate``).
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: Limiter,
        *,
        cost: int = 1,
        exclude: Tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.cost = cost
        self.exclude = frozenset(exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exclude:
            await self.app(scope, receive, send)
            return
        peer, method, path, headers = request_parts(scope)
        d = await self.limiter.check_http_async(peer, method, path, headers, self.cost)
        if not d.allowed:
            await send_refusal(send, d)
            return
        if d.delay > 0:
            await asyncio.sleep(d.delay)
        state: Dict[str, Any] = scope.setdefault("state", {})
        state["floodgate"] = d
        sending = with_headers(send, d.headers)
        if not d.held:
            await self.app(scope, receive, sending)
            return
        try:
            await self.app(scope, receive, releasing(sending, d))
        finally:
            # The app failed, or ended without a last body message.
            d.release_nowait()


def releasing(send: Send, d: Decision) -> Send:
    """``send`` giving ``d``'s concurrency slots back once the response's
    last body message has gone."""

    async def sending(message: Message) -> None:
        await send(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            d.release_nowait()

    return sending
