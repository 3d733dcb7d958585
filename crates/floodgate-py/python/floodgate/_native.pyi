"""Type hints of the native module (the Rust side of ``floodgate``)."""

import asyncio
from typing import Awaitable, List, Optional, Sequence, Tuple, Union

__version__: str

class PolicyError(ValueError):
    """A policy, store section or trusted proxy list that cannot work.
    ``str(e)`` starts with ``file:line:column:``."""

    file: str
    line: int
    column: int
    field: str
    reason: str

class Decision:
    """A decided request: whether it may go on, the limit that speaks for
    it (the one that denied, or the one with the least remaining), and the
    response the gateway would give."""

    @property
    def allowed(self) -> bool: ...
    @property
    def status(self) -> int:
        """200 when allowed, 429 when a limit denies, 401 for a missing or
        unknown API key or an invalid token, 503 when the store cannot
        decide (``fail_closed_status``, 503 or 429, when a ``fail_closed``
        limit could not be decided)."""
    @property
    def limit(self) -> Optional[int]: ...
    @property
    def remaining(self) -> Optional[int]: ...
    @property
    def reset(self) -> Optional[int]:
        """Unix seconds when the limit is back to idle (rounded up)."""
    @property
    def reset_after(self) -> Optional[float]: ...
    @property
    def retry_after(self) -> Optional[int]:
        """Whole seconds before the same request could be allowed; ``None``
        when allowed or when it never can be (see ``never``)."""
    @property
    def never(self) -> bool: ...
    @property
    def delay(self) -> float:
        """Seconds to hold the request (shaping limits)."""
    @property
    def rule(self) -> Optional[str]: ...
    @property
    def limit_name(self) -> Optional[str]: ...
    @property
    def algorithm(self) -> Optional[str]: ...
    @property
    def tier(self) -> Optional[str]: ...
    @property
    def headers(self) -> List[Tuple[str, str]]:
        """The rate-limit headers of an allowed request, or every header of
        the refusal (``content-type`` and ``retry-after`` included)."""
    @property
    def body(self) -> Optional[bytes]:
        """The gateway's JSON body of a refusal; ``None`` when allowed."""
    def to_json(self) -> str:
        """The decision as ``POST /v1/check`` answers it."""
    @property
    def held(self) -> int:
        """The concurrency slots the request holds now: one per concurrency
        limit that applied (0 when refused, when none applied, or once
        released)."""
    def release(self) -> int:
        """Gives the slots back and waits for the store (the GIL released):
        how many were still held; 0 when the store cannot be reached (the
        slots then come back when their lease ends)."""
    def release_nowait(self) -> None:
        """Gives the slots back without waiting: at once on the memory
        store, sent from the limiter's thread on Redis."""
    def __enter__(self) -> "Decision": ...
    def __exit__(self, *args: object) -> bool:
        """Releases the slots, waiting (``release``)."""
    def __aenter__(self) -> Awaitable["Decision"]: ...
    def __aexit__(self, *args: object) -> Awaitable[None]:
        """Releases the slots without waiting (``release_nowait``)."""
    def __bool__(self) -> bool: ...

class ManualClock:
    """Time set and moved by hand, in µs since the Unix epoch."""

    def __init__(self, start_us: int = 0) -> None: ...
    def set(self, now_us: int) -> None: ...
    def advance(self, us: int) -> None: ...
    @property
    def now_us(self) -> int: ...

_Store = Optional[Tuple[str, str]]

class NativeLimiter:
    @staticmethod
    def from_file(
        path: str, store: _Store = None, trusted_proxies: Optional[Sequence[str]] = None, clock: Optional[ManualClock] = None
    ) -> NativeLimiter: ...
    @staticmethod
    def from_text(
        name: str,
        text: str,
        store: _Store = None,
        trusted_proxies: Optional[Sequence[str]] = None,
        clock: Optional[ManualClock] = None,
    ) -> NativeLimiter: ...
    def derive(self, name: str, text: str) -> NativeLimiter: ...
    @property
    def connected(self) -> bool: ...
    @property
    def local(self) -> bool: ...
    @property
    def completion_fd(self) -> int: ...
    def drain(self) -> List[Tuple["asyncio.Future[Decision]", Union[Decision, BaseException], bool]]: ...
    def check(
        self,
        path: str = "/",
        ip: Optional[str] = None,
        api_key: Optional[str] = None,
        user: Optional[str] = None,
        method: Optional[str] = None,
        headers: Optional[List[Tuple[str, str]]] = None,
        cost: int = 1,
    ) -> Decision: ...
    def start(
        self,
        future: "asyncio.Future[Decision]",
        path: str = "/",
        ip: Optional[str] = None,
        api_key: Optional[str] = None,
        user: Optional[str] = None,
        method: Optional[str] = None,
        headers: Optional[List[Tuple[str, str]]] = None,
        cost: int = 1,
    ) -> Optional[Decision]: ...
    def check_http(
        self, peer: Optional[str], method: str, path: str, headers: List[Tuple[str, str]], cost: int = 1
    ) -> Decision: ...
    def start_http(
        self, future: "asyncio.Future[Decision]", peer: Optional[str], method: str, path: str, headers: List[Tuple[str, str]], cost: int = 1
    ) -> Optional[Decision]: ...
