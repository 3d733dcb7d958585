"""Real processes: a FastAPI app under uvicorn, and a Python app and a
`floodgate serve` gateway on one Redis admitting exactly the limit
together."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_for

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent / "examples"


class Process:
    def __init__(self, args, env=None, cwd=None):
        self.lines = []
        self.proc = subprocess.Popen(
            args,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def serve_uvicorn(app: str, app_dir: Path, env=None) -> (Process, str):
    port = free_port()
    p = Process(
        [sys.executable, "-m", "uvicorn", app, "--app-dir", str(app_dir), "--port", str(port),
         "--no-proxy-headers", "--log-level", "warning"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        assert p.proc.poll() is None, "".join(p.lines)
        try:
            return httpx.get(base + "/nowhere", timeout=1).status_code == 404
        except httpx.TransportError:
            return False

    try:
        wait_for("uvicorn", 20, up)
    except BaseException:
        p.stop()
        raise
    return p, base


@pytest.fixture
def seed_ip_app():
    p, base = serve_uvicorn("fastapi_per_ip:app", EXAMPLES, {"TRUSTED_PROXIES": "127.0.0.1"})
    yield base
    p.stop()


def test_uvicorn_app_limits_each_forwarded_client_through_the_trusted_proxy(seed_ip_app):
    with httpx.Client(base_url=seed_ip_app) as c:
        a = [c.get("/api/v1/data", headers={"x-forwarded-for": "192.0.2.10"}) for _ in range(101)]
        b = c.get("/api/v1/data", headers={"x-forwarded-for": "192.0.2.11"})
        health = [c.get("/healthz") for _ in range(3)]
    assert all(r.status_code == 200 for r in a[:100])
    refused = [r for r in a if r.status_code == 429]
    # 100 in the bucket; at 1/s, at most a few more while these ran.
    assert refused and len(refused) >= 1
    assert refused[0].json()["error"] == "rate_limit_exceeded"
    assert refused[0].headers["retry-after"] == "1"
    assert b.status_code == 200 and b.headers["x-ratelimit-remaining"] == "99"
    assert all(r.status_code == 200 and "x-ratelimit-limit" not in r.headers for r in health)


def gateway_config(path: Path, redis_url: str, prefix: str) -> Path:
    path.write_text(
        "listen: 127.0.0.1:0\n"
        "admin: { listen: 127.0.0.1:0 }\n"
        "log: { format: json }\n"
        "store:\n"
        "  kind: redis\n"
        f"  url: {redis_url}\n"
        f"  key_prefix: '{prefix}'\n"
        # Slow answers on a loaded machine wait rather than be decided by
        # the failure policy: the one count is Redis'.
        "  timeout: 5s\n"
        "  on_failure: fail_closed\n"
        "rules:\n"
        "  - name: data\n"
        "    match: { path: /api/v1/data }\n"
        "    key: ip\n"
        "    limits: [ { algorithm: fixed_window, limit: 10, window: 1h } ]\n"
    )
    return path


def start_gateway(binary: Path, config: Path) -> (Process, str):
    p = Process([str(binary), "serve", "--watch", "off", "--config", str(config)])

    def listening():
        assert p.proc.poll() is None, "".join(p.lines)
        for line in list(p.lines):
            try:
                v = json.loads(line)
            except ValueError:
                continue
            if v.get("message") == "floodgate listening":
                return "http://" + v["public"]
        return None

    try:
        return p, wait_for("floodgate serve", 30, listening)
    except BaseException:
        p.stop()
        raise


def test_a_python_app_and_the_gateway_on_one_redis_admit_exactly_the_limit(
    tmp_path, redis, prefix, floodgate_bin
):
    config = gateway_config(tmp_path / "floodgate.yaml", redis.url, prefix)
    gateway, gateway_url = start_gateway(floodgate_bin, config)
    try:
        app, app_url = serve_uvicorn("from_config:app", HERE / "apps", {"FLOODGATE_CONFIG": str(config)})
    except BaseException:
        gateway.stop()
        raise
    try:
        answers = []
        with httpx.Client() as c:
            for i in range(30):
                base = gateway_url if i % 2 else app_url
                answers.append((base, c.get(base + "/api/v1/data")))
    finally:
        app.stop()
        gateway.stop()
    allowed = [(b, r) for b, r in answers if r.status_code == 200]
    assert len(allowed) == 10, [(b, r.status_code) for b, r in answers]
    # Both took their turns within the one count.
    assert {b for b, _ in allowed} == {gateway_url, app_url}
    assert all(r.status_code == 429 for _, r in answers[10:])
    # The same refusal from both: body fields and header names.
    from_gateway = next(r for b, r in answers[10:] if b == gateway_url)
    from_app = next(r for b, r in answers[10:] if b == app_url)
    assert from_gateway.json().keys() == from_app.json().keys()
    assert from_gateway.json()["error"] == from_app.json()["error"] == "rate_limit_exceeded"
    names = ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "ratelimit-policy", "ratelimit", "retry-after"]
    for n in names:
        assert from_gateway.headers[n] and from_app.headers[n], n
    assert from_gateway.headers["ratelimit-policy"] == from_app.headers["ratelimit-policy"]
    assert from_gateway.headers["x-ratelimit-reset"] == from_app.headers["x-ratelimit-reset"]
