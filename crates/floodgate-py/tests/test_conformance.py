"""The conformance suite of floodgate-testkit, replayed through the Python
API on the memory store and on a real Redis (time="caller"), on a manual
clock: every case of every algorithm, each step's decision checked as the
Rust runner checks it (allowed, limit, remaining, retry-after, reset,
delay). The cases come from the testkit itself
(`cargo run -p floodgate-py --example conformance_cases`)."""

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

import floodgate

REPO = Path(__file__).resolve().parents[3]
MAX_COST = 1 << 40


def load_cases():
    path = os.environ.get("FLOODGATE_CASES")
    if path:
        text = Path(path).read_text()
    else:
        text = subprocess.run(
            ["cargo", "run", "-q", "-p", "floodgate-py", "--example", "conformance_cases"],
            cwd=REPO, check=True, capture_output=True, text=True,
        ).stdout
    return json.loads(text)


SUITE = load_cases()
CASES = SUITE["cases"]


def test_the_suite_covers_every_algorithm():
    algorithms = {c["limit"]["algorithm"] + ("/shaping" if c["shaping"] else "") for c in CASES}
    assert algorithms >= {
        "token_bucket", "leaky_bucket", "leaky_bucket/shaping", "fixed_window",
        "sliding_window_log", "sliding_window_counter", "gcra",
    }
    assert len(CASES) >= 20


def mismatch(step, d, case):
    errs = []
    if d.allowed != step["allowed"]:
        errs.append(f"allowed={d.allowed}")
    if d.limit != case["limit_size"]:
        errs.append(f"limit={d.limit}")
    if step["remaining"] is not None and d.remaining != step["remaining"]:
        errs.append(f"remaining={d.remaining} (want {step['remaining']})")
    retry = step["retry_us"]
    if d.allowed and (d.retry_after is not None or d.never):
        errs.append("retry-after on an allowed request")
    if retry == "never" and not d.never:
        errs.append(f"retry_after={d.retry_after} (want never)")
    if isinstance(retry, int) and d.retry_after != math.ceil(retry / 1e6):
        errs.append(f"retry_after={d.retry_after} (want {math.ceil(retry / 1e6)})")
    if step["reset_us"] is not None and round(d.reset_after * 1e6) != step["reset_us"]:
        errs.append(f"reset_after={d.reset_after} (want {step['reset_us']} µs)")
    if step["delay_us"] is not None:
        if round(d.delay * 1e6) != step["delay_us"]:
            errs.append(f"delay={d.delay} (want {step['delay_us']} µs)")
    elif not case["shaping"] and d.delay != 0:
        errs.append(f"delay={d.delay}")
    return errs


def replay(case, store):
    clock = floodgate.ManualClock(SUITE["base_us"])
    policy = {"rules": [{"name": "case", "key": "ip", "limits": [dict(case["limit"], name="l")]}]}
    limiter = floodgate.Limiter(policy, store=store, clock=clock)
    replayed = 0
    for i, step in enumerate(case["steps"]):
        if step["cost"] > MAX_COST:
            continue  # above what one request may state (the decision API's bound)
        clock.set(SUITE["base_us"] + step["at_us"])
        d = limiter.check("/", ip="192.0.2.1", cost=step["cost"])
        errs = mismatch(step, d, case)
        assert not errs, f"{case['name']} step {i}: {'; '.join(errs)}"
        replayed += 1
    assert replayed > 0


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_memory(case):
    replay(case, None)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_redis(case, redis, prefix):
    replay(case, floodgate.RedisStore(
        redis.url, key_prefix=prefix, time="caller", timeout="5s", on_failure="fail_closed"
    ))
