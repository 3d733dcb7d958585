"""The limiter on the memory store: decisions, the gateway's headers and
429 body, identities, and the errors of requests and policies."""

import asyncio
import json

import pytest

import floodgate

PER_IP = {
    "rules": [
        {
            "name": "per-ip",
            "key": "ip",
            "limits": [{"algorithm": "token_bucket", "capacity": 2, "refill": "1/minute"}],
        }
    ]
}


def test_admits_the_capacity_then_refuses_with_the_gateways_answer():
    limiter = floodgate.Limiter(PER_IP)
    first = limiter.check("/data", ip="203.0.113.7")
    second = limiter.check("/data", ip="203.0.113.7")
    third = limiter.check("/data", ip="203.0.113.7")
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert (first.remaining, second.remaining, third.remaining) == (1, 0, 0)
    assert first.limit == 2 and first.status == 200 and first.body is None
    headers = dict(first.headers)
    assert headers["x-ratelimit-limit"] == "2"
    assert headers["x-ratelimit-remaining"] == "1"
    assert headers["ratelimit-policy"] == '"per-ip";q=2;w=120'
    assert headers["ratelimit"] == '"per-ip";r=1;t=60'
    assert "retry-after" not in headers
    assert third.status == 429 and third.retry_after == 60 and not third.never
    denied = dict(third.headers)
    assert denied["retry-after"] == "60"
    assert denied["content-type"] == "application/json"
    assert json.loads(third.body) == {
        "error": "rate_limit_exceeded",
        "message": "Too many requests. Retry after 60 seconds.",
        "retry_after": 60,
    }
    # Another client has its own bucket.
    assert limiter.check("/data", ip="203.0.113.8").allowed


def test_the_decision_reads_as_the_decision_api_answers():
    limiter = floodgate.Limiter(PER_IP)
    d = limiter.check("/data", ip="198.51.100.1")
    view = json.loads(d.to_json())
    assert view["allowed"] is True
    assert (view["rule"], view["limit_name"], view["algorithm"]) == ("per-ip", "per-ip", "token_bucket")
    assert (view["limit"], view["remaining"], view["reset"]) == (2, 1, d.reset)
    assert d.rule == "per-ip" and d.algorithm == "token_bucket" and d.tier is None
    assert bool(d) is True


def test_a_cost_above_the_capacity_can_never_be_allowed_and_consumes_nothing():
    limiter = floodgate.Limiter(PER_IP)
    d = limiter.check("/data", ip="192.0.2.1", cost=3)
    assert not d.allowed and d.never and d.retry_after is None
    assert json.loads(d.body)["retry_after"] is None
    assert limiter.check("/data", ip="192.0.2.1", cost=2).allowed


def test_all_limits_of_a_request_are_decided_together():
    policy = {
        "rules": [
            {
                "name": "api",
                "key": "ip",
                "limits": [
                    {"name": "second", "algorithm": "fixed_window", "limit": 5, "window": "1h"},
                    {"name": "day", "algorithm": "fixed_window", "limit": 3, "window": "1d"},
                ],
            }
        ]
    }
    limiter = floodgate.Limiter(policy)
    allowed = [limiter.check("/", ip="192.0.2.9").allowed for _ in range(6)]
    assert allowed == [True, True, True, False, False, False]
    # The denials consumed nothing of the hourly limit: 5 - 3 left.
    d = limiter.check("/", ip="192.0.2.9")
    assert d.limit_name == "day"
    assert json.loads(d.to_json())["remaining"] == 0


def test_api_keys_pick_the_tier_and_an_unknown_key_is_refused_with_401():
    policy = {
        "tiers": ["free", "pro"],
        "default_tier": "free",
        "clients": [{"api_key": "key-pro-1", "tier": "pro"}],
        "identity": {"require_api_key": True},
        "rules": [
            {
                "name": "per-key",
                "key": "api_key",
                "limits": [{"algorithm": "fixed_window", "limit": 1, "window": "1h"}],
                "tiers": {"pro": [{"algorithm": "fixed_window", "limit": 3, "window": "1h"}]},
            }
        ],
    }
    limiter = floodgate.Limiter(policy)
    pro = [limiter.check("/r", api_key="key-pro-1") for _ in range(4)]
    assert [d.allowed for d in pro] == [True, True, True, False]
    assert pro[0].tier == "pro" and pro[0].limit == 3
    unknown = limiter.check("/r", api_key="nobody")
    assert unknown.status == 401 and not unknown.allowed
    assert json.loads(unknown.body)["error"] == "unauthorized"
    # The key in the policy's header counts as the api_key argument does.
    assert limiter.check("/r", headers=[("X-API-Key", "key-pro-1")]).status == 429


def test_requests_that_cannot_be_decided_as_stated_raise_value_error():
    limiter = floodgate.Limiter(PER_IP)
    with pytest.raises(ValueError, match="must start with /"):
        limiter.check("data", ip="192.0.2.1")
    with pytest.raises(ValueError, match="cost must be between 1"):
        limiter.check("/", ip="192.0.2.1", cost=0)
    with pytest.raises(ValueError, match="not an IP address"):
        limiter.check("/", ip="not-an-ip")


def test_a_bad_policy_file_names_the_file_line_and_field(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        "rules:\n"
        "  - name: per-ip\n"
        "    key: ip\n"
        "    limits:\n"
        "      - { algorithm: token_bucket, capacity: 2, refill: 0/s }\n"
    )
    with pytest.raises(floodgate.PolicyError) as e:
        floodgate.Limiter.from_file(path)
    assert str(e.value).startswith(f"{path}:5:")
    assert (e.value.file, e.value.line, e.value.field) == (str(path), 5, "rules[0].limits[0].refill")
    path.write_text("rules:\n  - name: a\n    key: ip\n    limitz: []\n")
    with pytest.raises(floodgate.PolicyError, match=r"policy.yaml:4:.*unknown field `limitz`"):
        floodgate.Limiter.from_file(path)
    with pytest.raises(OSError, match="cannot read"):
        floodgate.Limiter.from_file(tmp_path / "missing.yaml")


def test_a_bad_policy_mapping_or_store_names_the_field():
    bad = {"rules": [{"name": "a/b", "key": "ip", "limits": []}]}
    with pytest.raises(floodgate.PolicyError) as e:
        floodgate.Limiter(bad)
    assert e.value.field == "rules[0].name" and e.value.line > 0
    with pytest.raises(floodgate.PolicyError) as e:
        floodgate.Limiter(PER_IP, store=floodgate.RedisStore("redis://127.0.0.1:1", connections=0))
    assert e.value.field == "store.connections"
    assert "must be between 1 and 64" in str(e.value)
    with pytest.raises(floodgate.PolicyError, match="not an IP address or CIDR"):
        floodgate.Limiter(PER_IP, trusted_proxies=["proxy.example"])


def test_the_client_ip_comes_from_forwarding_headers_of_trusted_proxies_only():
    limiter = floodgate.Limiter(PER_IP, trusted_proxies=["10.0.0.0/8"])
    xff = [("x-forwarded-for", "203.0.113.50")]
    # Through a trusted proxy: the forwarded client is counted.
    assert limiter.check_http("10.1.1.1", "GET", "/", xff).allowed
    assert limiter.check_http("10.1.1.2", "GET", "/", xff).allowed
    assert limiter.check_http("10.1.1.3", "GET", "/", xff).status == 429
    # From an untrusted peer the header is ignored: the peer is the client.
    assert limiter.check_http("198.51.100.9", "GET", "/", xff).allowed
    assert limiter.check_http("198.51.100.9", "GET", "/", xff).allowed
    assert not limiter.check_http("198.51.100.9", "GET", "/", xff).allowed
    assert limiter.check("/", ip="203.0.113.50").status == 429


def test_a_gateway_config_file_is_read_as_it_is(tmp_path):
    path = tmp_path / "floodgate.yaml"
    path.write_text(
        "listen: 127.0.0.1:0\n"
        "admin: { listen: 127.0.0.1:0 }\n"
        "trusted_proxies: [127.0.0.1]\n"
        "rules:\n"
        "  - name: per-ip\n"
        "    key: ip\n"
        "    limits: [ { algorithm: fixed_window, limit: 1, window: 1h } ]\n"
    )
    limiter = floodgate.Limiter.from_file(path)
    xff = [("x-forwarded-for", "192.0.2.77")]
    assert limiter.check_http("127.0.0.1", "GET", "/", xff).allowed
    assert limiter.check_http("127.0.0.1", "GET", "/", xff).status == 429
    assert limiter.check_http("127.0.0.1", "GET", "/", []).allowed


def test_check_async_on_memory_answers_as_check():
    limiter = floodgate.Limiter(PER_IP)

    async def three():
        return [(await limiter.check_async("/", ip="192.0.2.3")).allowed for _ in range(3)]

    assert asyncio.run(three()) == [True, True, False]
