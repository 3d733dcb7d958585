"""Real components for the tests: a redis-server on a free loopback port,
processes started and polled for with deadlines (never slept on)."""

import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def free_port(cluster: bool = False) -> int:
    """A free loopback port; for a cluster node, one at most 55535 whose
    cluster bus port (10,000 above) is free too."""
    if not cluster:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for port in random.sample(range(20000, 55536), 200):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
            return port
        except OSError:
            continue
    raise AssertionError("no free port pair for a cluster node")


def wait_for(what, deadline_s, poll):
    """Calls ``poll`` until it returns something truthy or the deadline
    passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        got = poll()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class Redis:
    def __init__(self, port: int, proc: subprocess.Popen):
        self.port = port
        self.proc = proc
        self.url = f"redis://127.0.0.1:{port}"

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], check=True, capture_output=True, text=True
        )
        return out.stdout.strip()


def start_redis(*extra: str, cwd=None, cluster: bool = False) -> Redis:
    assert shutil.which("redis-server"), "redis-server is needed (scripts/test-python installs it)"
    port = free_port(cluster)
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    try:
        wait_for(f"redis-server on {port}", 10, lambda: redis_ping(port))
    except AssertionError:
        proc.kill()
        raise
    return Redis(port, proc)


@pytest.fixture(scope="session")
def redis():
    r = start_redis()
    yield r
    r.proc.terminate()
    r.proc.wait(10)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A 3-master Redis Cluster on loopback, no replicas, in state ok."""
    nodes = []
    try:
        for i in range(3):
            d = tmp_path_factory.mktemp(f"cluster{i}")
            nodes.append(
                start_redis("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                            "--cluster-node-timeout", "2000", cwd=d, cluster=True)
            )
        addrs = [f"127.0.0.1:{n.port}" for n in nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addrs, "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True,
        )
        wait_for("cluster_state:ok", 20, lambda: all("cluster_state:ok" in n.cli("CLUSTER", "INFO") for n in nodes))
        yield nodes
    finally:
        for n in nodes:
            n.proc.terminate()
            n.proc.wait(10)


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own for each test, so tests share one Redis."""
    return "t" + uuid.uuid4().hex[:10] + ":"


def floodgate_binary() -> Path:
    env = os.environ.get("FLOODGATE_BIN")
    if env:
        return Path(env)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "floodgate"


@pytest.fixture(scope="session")
def floodgate_bin() -> Path:
    path = floodgate_binary()
    assert path.exists(), f"{path}: build it with `cargo build -p floodgate-server --bin floodgate`"
    return path
