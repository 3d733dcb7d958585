"""The stores a limiter can decide on: each is the config file's ``store:``
section, written as Python arguments (same names, same defaults, same
checks). Durations are text as in the config file (``"50ms"``, ``"1s"``)
or seconds as a number."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Union

Duration = Union[str, int, float]


def _duration(value: Duration) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value < 0:
        raise ValueError(f"{value!r} is not a duration")
    return f"{round(value * 1_000_000)}us"


class _Store:
    kind = "memory"

    def __init__(self, **fields: Any) -> None:
        section: Dict[str, Any] = {"kind": self.kind}
        for name, value in fields.items():
            if value is None:
                continue
            if name in ("timeout", "connect_timeout"):
                value = _duration(value)
            section[name] = value
        self._section = section

    def section(self) -> Dict[str, Any]:
        """The ``store:`` section this store stands for."""
        return dict(self._section)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._section.items() if k != "kind")
        return f"{type(self).__name__}({args})"


class MemoryStore(_Store):
    """In-process memory (the default): counts are this process's own."""

    kind = "memory"

    def __init__(self, *, max_keys: Optional[int] = None, shards: Optional[int] = None) -> None:
        super().__init__(max_keys=max_keys, shards=shards)


def _breaker(failures: Optional[int], cooldown: Optional[Duration]) -> Optional[Dict[str, Any]]:
    if failures is None and cooldown is None:
        return None
    b: Dict[str, Any] = {}
    if failures is not None:
        b["failures"] = failures
    if cooldown is not None:
        b["cooldown"] = _duration(cooldown)
    return b


def _access(
    username: Optional[str],
    password_file: Optional[str],
    password_env: Optional[str],
    tls: Optional[Mapping[str, Any]],
) -> Dict[str, Any]:
    """The credentials and TLS fields of a Redis ``store:`` section."""
    fields: Dict[str, Any] = {
        "username": username,
        "password_file": None if password_file is None else str(password_file),
        "password_env": password_env,
    }
    if tls is not None:
        fields["tls"] = {k: (str(v) if k != "insecure_skip_verify" else bool(v)) for k, v in tls.items()}
    return fields


class RedisStore(_Store):
    """One Redis server at ``url``: the gateway's scripts and keys, so a
    gateway and this process on the same Redis (and ``key_prefix``) share
    one count. When Redis cannot decide, ``on_failure`` says what happens
    (``fail_open``, ``fail_closed`` or ``local``); a rule's own
    ``on_store_failure`` wins. ``fail_closed_status`` (503 or 429, default
    503) is the status of a request denied because a ``fail_closed`` limit
    could not be decided.

    ``rediss://`` is TLS; ``tls`` names the files it trusts and presents
    (``ca_file``, ``ca_dir``, ``cert_file``, ``key_file``,
    ``server_name``, ``insecure_skip_verify``). ``username`` is the ACL user, its password
    read from ``password_file`` or the environment variable
    ``password_env`` (never passed in the clear)."""

    kind = "redis"

    def __init__(
        self,
        url: str,
        *,
        key_prefix: Optional[str] = None,
        timeout: Optional[Duration] = None,
        connect_timeout: Optional[Duration] = None,
        connections: Optional[int] = None,
        time: Optional[str] = None,
        on_failure: Optional[str] = None,
        local_divisor: Optional[int] = None,
        breaker_failures: Optional[int] = None,
        breaker_cooldown: Optional[Duration] = None,
        fail_closed_status: Optional[int] = None,
        scripting: Optional[str] = None,
        gather_max: Optional[int] = None,
        gather_in_flight: Optional[int] = None,
        max_keys: Optional[int] = None,
        shards: Optional[int] = None,
        username: Optional[str] = None,
        password_file: Optional[str] = None,
        password_env: Optional[str] = None,
        tls: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(
            url=url,
            **_access(username, password_file, password_env, tls),
            key_prefix=key_prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
            connections=connections,
            time=time,
            on_failure=on_failure,
            local_divisor=local_divisor,
            breaker=_breaker(breaker_failures, breaker_cooldown),
            fail_closed_status=fail_closed_status,
            scripting=scripting,
            gather_max=gather_max,
            gather_in_flight=gather_in_flight,
            max_keys=max_keys,
            shards=shards,
        )


class RedisClusterStore(_Store):
    """A Redis Cluster reached through the seed ``nodes``; the limits of
    one client share a hash tag, so a request's limits stay atomic."""

    kind = "redis_cluster"

    def __init__(
        self,
        nodes: Sequence[str],
        *,
        key_prefix: Optional[str] = None,
        timeout: Optional[Duration] = None,
        connect_timeout: Optional[Duration] = None,
        time: Optional[str] = None,
        on_failure: Optional[str] = None,
        local_divisor: Optional[int] = None,
        breaker_failures: Optional[int] = None,
        breaker_cooldown: Optional[Duration] = None,
        fail_closed_status: Optional[int] = None,
        scripting: Optional[str] = None,
        gather_max: Optional[int] = None,
        gather_in_flight: Optional[int] = None,
        max_keys: Optional[int] = None,
        shards: Optional[int] = None,
        username: Optional[str] = None,
        password_file: Optional[str] = None,
        password_env: Optional[str] = None,
        tls: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(
            nodes=list(nodes),
            **_access(username, password_file, password_env, tls),
            key_prefix=key_prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
            time=time,
            on_failure=on_failure,
            local_divisor=local_divisor,
            breaker=_breaker(breaker_failures, breaker_cooldown),
            fail_closed_status=fail_closed_status,
            scripting=scripting,
            gather_max=gather_max,
            gather_in_flight=gather_in_flight,
            max_keys=max_keys,
            shards=shards,
        )


class RedisSentinelStore(_Store):
    """The primary that the Sentinels at ``sentinels`` name
    ``master_name``: the store asks them, checks the server is the primary,
    and follows a failover. The Sentinels' own ACL user and password are
    ``sentinel_username`` and ``sentinel_password_file`` /
    ``sentinel_password_env``; the primary's are ``username`` and
    ``password_file`` / ``password_env``. Checks go the asynchronous way
    (the primary can move), from the limiter's thread."""

    kind = "redis_sentinel"

    def __init__(
        self,
        master_name: str,
        sentinels: Sequence[str],
        *,
        database: Optional[int] = None,
        sentinel_username: Optional[str] = None,
        sentinel_password_file: Optional[str] = None,
        sentinel_password_env: Optional[str] = None,
        key_prefix: Optional[str] = None,
        timeout: Optional[Duration] = None,
        connect_timeout: Optional[Duration] = None,
        connections: Optional[int] = None,
        time: Optional[str] = None,
        on_failure: Optional[str] = None,
        local_divisor: Optional[int] = None,
        breaker_failures: Optional[int] = None,
        breaker_cooldown: Optional[Duration] = None,
        fail_closed_status: Optional[int] = None,
        scripting: Optional[str] = None,
        gather_max: Optional[int] = None,
        gather_in_flight: Optional[int] = None,
        max_keys: Optional[int] = None,
        shards: Optional[int] = None,
        username: Optional[str] = None,
        password_file: Optional[str] = None,
        password_env: Optional[str] = None,
        tls: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(
            master_name=master_name,
            sentinels=list(sentinels),
            database=database,
            sentinel_username=sentinel_username,
            sentinel_password_file=None if sentinel_password_file is None else str(sentinel_password_file),
            sentinel_password_env=sentinel_password_env,
            **_access(username, password_file, password_env, tls),
            key_prefix=key_prefix,
            timeout=timeout,
            connect_timeout=connect_timeout,
            connections=connections,
            time=time,
            on_failure=on_failure,
            local_divisor=local_divisor,
            breaker=_breaker(breaker_failures, breaker_cooldown),
            fail_closed_status=fail_closed_status,
            scripting=scripting,
            gather_max=gather_max,
            gather_in_flight=gather_in_flight,
            max_keys=max_keys,
            shards=shards,
        )


Store = Union[MemoryStore, RedisStore, RedisClusterStore, RedisSentinelStore]
