"""Redis as production runs it, from Python: TLS with a CA file and an ACL
user whose password is read from a file (the calling thread's blocking
connections and the async ones alike), and a primary found through
Sentinel."""

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

import floodgate

from conftest import REPO, free_port, start_redis, wait_for

LIMIT = {
    "rules": [
        {
            "name": "r",
            "key": "ip",
            "limits": [{"algorithm": "fixed_window", "limit": 25, "window": "1h"}],
        }
    ]
}
PASSWORD = "py-Secret-42"
ACL = ["resetkeys", "~fg:*", "resetchannels", "&fg:*", "-@all", "+@read", "+@write", "+@scripting",
       "+@pubsub", "+@transaction", "+@connection", "-@dangerous", "+role", "+time", "+info"]


def pki(tmp: Path) -> Path:
    """A test CA and certificates, made by the testkit's floodgate-test-pki."""
    binary = os.environ.get("FLOODGATE_TEST_PKI_BIN")
    if binary:
        subprocess.run([binary, str(tmp)], check=True, capture_output=True)
    else:
        subprocess.run(["cargo", "run", "-q", "-p", "floodgate-testkit", "--bin", "floodgate-test-pki", str(tmp)],
                       check=True, capture_output=True, cwd=REPO)
    return tmp


@pytest.fixture
def tls_redis(tmp_path):
    certs = pki(tmp_path / "pki")
    tls_port = free_port()
    r = start_redis("--tls-port", str(tls_port), "--tls-cert-file", str(certs / "server.pem"),
                    "--tls-key-file", str(certs / "server.key"), "--tls-ca-cert-file", str(certs / "ca.pem"),
                    "--tls-auth-clients", "no")
    assert r.cli("ACL", "SETUSER", "floodgate", "reset", "on", ">" + PASSWORD, *ACL) == "OK"
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    yield r, tls_port, certs, tmp_path / "pw"
    r.proc.terminate()
    r.proc.wait(10)


def test_tls_and_an_acl_user_decide_exactly(tls_redis):
    r, tls_port, certs, pw = tls_redis
    store = floodgate.RedisStore(f"rediss://localhost:{tls_port}", username="floodgate", password_file=pw,
                                 tls={"ca_file": certs / "ca.pem"}, timeout="5s", on_failure="fail_closed")
    limiter = floodgate.Limiter(LIMIT, store=store)
    assert limiter.connected
    got = [limiter.check("/", ip="192.0.2.1").allowed for _ in range(30)]
    assert sum(got) == 25 and got[:25] == [True] * 25

    async def more():
        return [(await limiter.check_async("/", ip="192.0.2.2")).allowed for _ in range(30)]

    assert sum(asyncio.run(more())) == 25
    assert r.cli("--scan", "--pattern", "fg:*")


def test_a_wrong_password_or_ca_is_not_connected(tls_redis, tmp_path):
    r, tls_port, certs, _ = tls_redis
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    store = floodgate.RedisStore(f"rediss://localhost:{tls_port}", username="floodgate", password_file=wrong,
                                 tls={"ca_file": certs / "ca.pem"}, on_failure="fail_closed")
    limiter = floodgate.Limiter(LIMIT, store=store)
    assert not limiter.connected
    assert not limiter.check("/", ip="192.0.2.3").allowed, "fail_closed while Redis refuses"
    other = pki(tmp_path / "other")
    store = floodgate.RedisStore(f"rediss://localhost:{tls_port}", tls={"ca_file": other / "ca.pem"},
                                 on_failure="fail_closed")
    assert not floodgate.Limiter(LIMIT, store=store).connected


def test_bad_access_fields_are_refused():
    with pytest.raises(ValueError, match="not both"):
        floodgate.Limiter(LIMIT, store=floodgate.RedisStore("rediss://h:1", password_file="/p", password_env="P"))
    with pytest.raises(ValueError, match="rediss://"):
        floodgate.Limiter(LIMIT, store=floodgate.RedisStore("redis://h:1", tls={"ca_file": "/ca.pem"}))


def test_sentinel_names_the_primary(tmp_path):
    primary = start_redis()
    port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor py 127.0.0.1 {primary.port} 1\n")
    sentinel = subprocess.Popen(["redis-server", str(conf), "--sentinel"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def knows():
            out = subprocess.run(["redis-cli", "-p", str(port), "SENTINEL", "get-master-addr-by-name", "py"],
                                 capture_output=True, text=True)
            return str(primary.port) in out.stdout
        wait_for("the Sentinel", 10, knows)
        store = floodgate.RedisSentinelStore("py", [f"redis://127.0.0.1:{port}"], timeout="5s",
                                             on_failure="fail_closed")
        limiter = floodgate.Limiter(LIMIT, store=store)
        assert limiter.connected
        got = [limiter.check("/", ip="192.0.2.9").allowed for _ in range(30)]
        assert sum(got) == 25
        assert primary.cli("--scan", "--pattern", "fg:*")
    finally:
        sentinel.kill()
        sentinel.wait(10)
        primary.proc.terminate()
        primary.proc.wait(10)
