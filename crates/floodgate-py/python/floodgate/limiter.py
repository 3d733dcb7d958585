"""``Limiter``: the gateway's engine in this process."""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

from ._native import Decision, ManualClock, NativeLimiter
from .stores import Store

Headers = Iterable[Tuple[str, str]]


def _store_doc(store: Optional[Store]) -> Optional[Tuple[str, str]]:
    if store is None:
        return None
    return ("store", json.dumps({"store": store.section()}, indent=2))


def _settle(fut: "asyncio.Future[Decision]", result: Any, failed: bool) -> None:
    if fut.done():
        return
    if failed:
        fut.set_exception(result)
    else:
        fut.set_result(result)


# A limiter's runtime thread does not survive fork(): a child process (a
# pre-forking server importing the app first) gets every live limiter
# built again, with counters of its own on the memory store and new
# connections to Redis.
_LIVE: "weakref.WeakSet[Limiter]" = weakref.WeakSet()
# The parent's engines, kept in the child and never dropped: dropping one
# would wait for a runtime thread that is not in this process.
_INHERITED: list = []


def _after_fork_in_child() -> None:
    for limiter in list(_LIVE):
        _INHERITED.append(limiter._native)
        limiter._init(limiter._build())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Limiter:
    """A policy and a store: decides requests as the gateway does.

    ``policy`` is the policy document as a mapping (``rules``, ``tiers``,
    ``clients``, ``identity``, ``global``, ``overrides``; the config file
    may hold ``store`` and ``trusted_proxies`` too) or its YAML/JSON text.
    ``store`` (a :class:`MemoryStore`, :class:`RedisStore` or
    :class:`RedisClusterStore`) replaces the document's ``store:``;
    ``trusted_proxies`` (CIDRs or addresses) replaces its list. A policy
    that cannot work raises :class:`PolicyError` naming the line and field.
    ``clock`` (a :class:`ManualClock`) replaces the system clock: tests and
    replays move time by hand (on Redis, with ``time="caller"``).
    """

    def __init__(
        self,
        policy: Union[Mapping[str, Any], str],
        *,
        store: Optional[Store] = None,
        trusted_proxies: Optional[Sequence[str]] = None,
        name: str = "policy",
        clock: Optional[ManualClock] = None,
    ) -> None:
        text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
        proxies = None if trusted_proxies is None else list(trusted_proxies)
        doc = _store_doc(store)
        self._build = lambda: NativeLimiter.from_text(name, text, doc, proxies, clock)
        self._init(self._build())

    @classmethod
    def from_file(
        cls,
        path: Union[str, "os.PathLike[str]"],
        *,
        store: Optional[Store] = None,
        trusted_proxies: Optional[Sequence[str]] = None,
        clock: Optional[ManualClock] = None,
    ) -> "Limiter":
        """Reads a policy file or the gateway's config file (YAML or JSON):
        its ``store:`` and ``trusted_proxies`` are used unless given here."""
        self = cls.__new__(cls)
        proxies = None if trusted_proxies is None else list(trusted_proxies)
        where, doc = os.fspath(path), _store_doc(store)
        self._build = lambda: NativeLimiter.from_file(where, doc, proxies, clock)
        self._init(self._build())
        return self

    def _init(self, native: NativeLimiter) -> None:
        self._native = native
        self._local = native.local
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        _LIVE.add(self)
        # The hot paths call the native methods directly (same arguments):
        # no Python frame between the caller and the engine.
        self.check = native.check  # type: ignore[method-assign]
        self.check_http = native.check_http  # type: ignore[method-assign]

    @property
    def connected(self) -> bool:
        """Whether the store is Redis and connected now."""
        return self._native.connected

    def check(
        self,
        path: str = "/",
        *,
        ip: Optional[str] = None,
        api_key: Optional[str] = None,
        user: Optional[str] = None,
        method: Optional[str] = None,
        headers: Optional[Headers] = None,
        cost: int = 1,
    ) -> Decision:
        """Decides a request stated by its attributes (the client IP already
        resolved), as the gateway's ``POST /v1/acquire`` does. On Redis, the
        call is made on this thread, on a connection of its own, with the
        GIL released. ``headers`` is a list of ``(name, value)`` pairs. An
        allowed request holds the slots of its concurrency limits until
        :meth:`Decision.release`, the end of a ``with`` block, or the
        decision's end."""
        hs = None if headers is None else list(headers)
        return self._native.check(path, ip, api_key, user, method, hs, cost)

    async def check_async(
        self,
        path: str = "/",
        *,
        ip: Optional[str] = None,
        api_key: Optional[str] = None,
        user: Optional[str] = None,
        method: Optional[str] = None,
        headers: Optional[Headers] = None,
        cost: int = 1,
    ) -> Decision:
        """:meth:`check` for ``async`` code: the event loop runs on while
        Redis answers (through the limiter's thread). A limiter serves one
        event loop at a time (the one that last called it watches its
        answers). Release slots with ``async with`` or
        :meth:`Decision.release_nowait`, which never block the loop."""
        hs = None if headers is None else list(headers)
        if self._local:
            return self._native.check(path, ip, api_key, user, method, hs, cost)
        fut = self._future()
        d = self._native.start(fut, path, ip, api_key, user, method, hs, cost)
        return d if d is not None else await fut

    def check_http(
        self,
        peer: Optional[str],
        method: str,
        path: str,
        headers: Headers,
        cost: int = 1,
    ) -> Decision:
        """Decides an HTTP request as the gateway does: ``peer`` is the
        socket peer; forwarding headers count only from a trusted proxy; the
        API key and user come from the policy's identity headers. Slots are
        held as by :meth:`check`."""
        return self._native.check_http(peer, method, path, list(headers), cost)

    async def check_http_async(
        self,
        peer: Optional[str],
        method: str,
        path: str,
        headers: Headers,
        cost: int = 1,
    ) -> Decision:
        """:meth:`check_http` for ``async`` code."""
        hs = list(headers)
        if self._local:
            return self._native.check_http(peer, method, path, hs, cost)
        fut = self._future()
        d = self._native.start_http(fut, peer, method, path, hs, cost)
        return d if d is not None else await fut

    def _future(self) -> "asyncio.Future[Decision]":
        """A future of the running loop, which watches this limiter's
        answers (Redis answers are queued, and the loop woken through a
        descriptor it reads, then drains them all at once)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            old = self._loop
            if old is not None and not old.is_closed():
                old.remove_reader(self._native.completion_fd)
            loop.add_reader(self._native.completion_fd, self._drain)
            self._loop = loop
        return loop.create_future()

    def _drain(self) -> None:
        for fut, result, failed in self._native.drain():
            loop = fut.get_loop()
            if loop is self._loop:
                _settle(fut, result, failed)
            elif not loop.is_closed():
                # A future of another loop: settled on its own thread.
                loop.call_soon_threadsafe(_settle, fut, result, failed)

    def derive(self, policy: Union[Mapping[str, Any], str], *, name: str = "policy") -> "Limiter":
        """A limiter of its own with ``policy``, on this one's store (the
        same Redis and key prefix), trusted proxies and clock."""
        text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
        other = type(self).__new__(type(self))
        parent = self
        other._build = lambda: parent._native.derive(name, text)
        other._init(other._build())
        return other

    def limit(self, rate: Optional[str] = None, *, key: Union[str, Sequence[str]] = "ip", cost: int = 1) -> Any:
        """A decorator of a Starlette or FastAPI endpoint that takes the
        ``request``: see :func:`floodgate.routes.limit`. With a ``rate``
        (``"10/minute"``), the route has that limit of its own."""
        from .routes import limit

        return limit(self, rate, key=key, cost=cost)

    def dependency(
        self, rate: Optional[str] = None, *, key: Union[str, Sequence[str]] = "ip", cost: int = 1
    ) -> Any:
        """A FastAPI dependency (``Depends(limiter.dependency())``): see
        :func:`floodgate.routes.dependency`."""
        from .routes import dependency

        return dependency(self, rate, key=key, cost=cost)
