"""Floodgate inside Python services.

The gateway's engine as a native package: the same policy document, the
same algorithms, the same Redis scripts and keys (a Python app and a
``floodgate serve`` gateway on one Redis enforce one count), the same
rate-limit headers and 429 body.

- :class:`Limiter`: ``Limiter.from_file(path)`` or ``Limiter(policy, store=...)``;
  ``check(...)`` / ``await check_async(...)`` give a :class:`Decision`.
- :mod:`floodgate.stores`: :class:`MemoryStore`, :class:`RedisStore`,
  :class:`RedisClusterStore`, :class:`RedisSentinelStore`.
- :mod:`floodgate.asgi`: :class:`~floodgate.asgi.FloodgateMiddleware`
  for Starlette and FastAPI.
- :mod:`floodgate.routes`: ``limiter.limit()``, a per-route dependency or
  decorator.
"""

from ._native import Decision, ManualClock, PolicyError, __version__
from .limiter import Limiter
from .stores import MemoryStore, RedisClusterStore, RedisSentinelStore, RedisStore

__all__ = [
    "Decision",
    "Limiter",
    "ManualClock",
    "MemoryStore",
    "PolicyError",
    "RedisClusterStore",
    "RedisSentinelStore",
    "RedisStore",
    "__version__",
]
