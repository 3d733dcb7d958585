"""The 429's body against its documented JSON Schema
(docs/schemas/rate-limit-exceeded.schema.json), with a schema validator,
on the three entry points: the gateway (a real `floodgate serve`), the
decision API's `body` (`POST /v1/check` on it) and the library (this
package, on the tower layer's body). Compact by default; with `errors`,
a code, details, the tier and the URLs."""

import json
from pathlib import Path

import httpx
import jsonschema
import pytest

import floodgate
from conftest import wait_for
from test_processes import Process

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "schemas" / "rate-limit-exceeded.schema.json").read_text())

POLICY = """
tiers: [free, pro]
default_tier: free
clients: [{ api_key: pro-client-key-0001, tier: pro }]
rules:
  - name: data
    match: { path: /api/v1/data }
    key: ip
    limits: [{ name: hourly, algorithm: fixed_window, limit: 1, window: 1h }]
  - name: search
    match: { path: /resource }
    key: api_key
    error: { message: "Search: again in {retry_after} s ({tier})" }
    limits: [{ algorithm: token_bucket, capacity: 1, refill: 1/s }]
"""

ERRORS = """
errors:
  details: true
  documentation_url: https://docs.example.com/limits
  tiers:
    free: { upgrade_url: https://example.com/upgrade, message: "Free plan: {limit} per {window}." }
"""


def validate(body):
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    return body


def start(binary, config):
    p = Process([str(binary), "serve", "--watch", "off", "--config", str(config)])

    def listening():
        assert p.proc.poll() is None, "".join(p.lines)
        for line in list(p.lines):
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if v.get("message") == "floodgate listening":
                return "http://" + v["public"], "http://" + v["admin"]
        return None

    try:
        return p, wait_for("floodgate serve", 30, listening)
    except BaseException:
        p.stop()
        raise


def bodies(tmp_path, floodgate_bin, policy):
    """The gateway's 429 body, the decision API's `body` and the library's,
    for one denial of the `data` rule and one of `search` by a pro client."""
    config = tmp_path / "floodgate.yaml"
    config.write_text("listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nlog: { format: json }\n" + policy)
    p, (public, admin) = start(floodgate_bin, config)
    try:
        with httpx.Client() as c:
            gateway = [c.get(public + "/api/v1/data") for _ in range(2)][-1]
            assert gateway.status_code == 429
            pro = {"x-api-key": "pro-client-key-0001"}
            gateway_pro = [c.get(public + "/resource", headers=pro) for _ in range(2)][-1]
            assert gateway_pro.status_code == 429
            check = {"attributes": {"path": "/api/v1/data", "ip": "192.0.2.9"}}
            api = [c.post(admin + "/v1/check", json=check) for _ in range(2)][-1].json()
            assert api["allowed"] is False
    finally:
        p.stop()
    lib = floodgate.Limiter.from_file(str(config))
    denied = [lib.check("/api/v1/data", ip="192.0.2.7") for _ in range(2)][-1]
    assert denied.status == 429
    return gateway.json(), gateway_pro.json(), api["body"], json.loads(denied.body)


def test_the_default_body_is_compact_and_fits_the_schema(tmp_path, floodgate_bin):
    gateway, gateway_pro, api, lib = bodies(tmp_path, floodgate_bin, POLICY)
    for b in (gateway, gateway_pro, api, lib):
        validate(b)
    assert set(gateway) == {"error", "message", "retry_after"}
    # The same body on every entry point.
    assert set(api) == set(lib) == set(gateway)
    for b in (gateway, api, lib):
        assert b["error"] == "rate_limit_exceeded"
        assert b["message"] == f"Too many requests. Retry after {b['retry_after']} seconds."
    assert gateway_pro["message"].startswith("Search: again in ")


def test_errors_add_a_code_details_urls_and_fit_the_schema(tmp_path, floodgate_bin):
    gateway, gateway_pro, api, lib = bodies(tmp_path, floodgate_bin, POLICY + ERRORS)
    for b in (gateway, gateway_pro, api, lib):
        validate(b)
        assert b["code"] == "rate_limit_exceeded"
        assert b["documentation_url"] == "https://docs.example.com/limits"
    for b in (gateway, api, lib):
        assert b["tier"] == "free"
        assert b["upgrade_url"] == "https://example.com/upgrade"
        assert b["message"] == "Free plan: 1 per 1h."
        assert (b["rule"], b["limit_name"]) == ("data", "hourly")
        assert b["details"]["limit"] == 1 and b["details"]["window"] == 3600
    # A pro client: the rule's message, no upgrade URL (the free tier's).
    assert gateway_pro["tier"] == "pro"
    assert "upgrade_url" not in gateway_pro
    assert gateway_pro["message"] == "Search: again in 1 s (pro)"
    assert gateway_pro["details"]["rate"] == "1/1s"


def test_a_body_that_breaks_the_schema_is_caught():
    # The validator is no formality: a body missing its message fails.
    with pytest.raises(jsonschema.ValidationError):
        validate({"error": "rate_limit_exceeded", "retry_after": 1})
    with pytest.raises(jsonschema.ValidationError):
        validate({"error": "rate_limit_exceeded", "message": "x", "retry_after": 1, "code": "rate_limit_exceeded"})
