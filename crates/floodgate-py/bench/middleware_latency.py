"""Latency a FastAPI endpoint gets from each limiter, at 1,200 requests/s:
the app of latency_apps.py under uvicorn (one worker), without a limiter,
with FloodgateMiddleware and with slowapi, both on one redis-server; the
load from floodgate-loadgen (open loop, 12,000 API keys picked zipf(1), the
api-keys preset at a steady 1,200/s, or --rate). Prints p50 / p99 / p99.9 from the
schedule and the p99 each limiter adds to the baseline's.

Needs uvicorn, fastapi, slowapi and the floodgate package installed, and
floodgate-loadgen built (LOADGEN, default target/release/floodgate-loadgen).

    python crates/floodgate-py/bench/middleware_latency.py [--duration 20s] [--rate 1200]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline_s=20):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def run(variant, redis_url, loadgen, duration, rate):
    port = free_port()
    env = {**os.environ, "VARIANT": variant, "REDIS_URL": redis_url}
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "latency_apps:app", "--app-dir", str(HERE),
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
    )
    try:
        wait_port(port)
        out = subprocess.run(
            [loadgen, "run", "--preset", "api-keys", "--url", f"http://127.0.0.1:{port}/resource",
             "--rate", str(rate), "--no-peaks", "--duration", duration, "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
    finally:
        app.terminate()
        app.wait(10)
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", default="20s")
    ap.add_argument("--rate", type=int, default=1200)
    args = ap.parse_args()
    loadgen = os.environ.get("LOADGEN", str(REPO / "target" / "release" / "floodgate-loadgen"))
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        reports = {v: run(v, f"redis://127.0.0.1:{port}", loadgen, args.duration, args.rate)
                   for v in ("none", "floodgate", "slowapi")}
    finally:
        redis.terminate()
    print("| limiter | 200 | 429 | other | p50 ms | p99 ms | p99.9 ms | p99 added ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    for v, r in reports.items():
        lat = r["latency_from_schedule_ms"]
        c = r["counts"]
        base = lat["p99"] if base is None else base
        print(f"| {v} | {c['ok_200']} | {c['limited_429']} | {c['other_status'] + c['errors']} | "
              f"{lat['p50']:.2f} | {lat['p99']:.2f} | {lat['p999']:.2f} | {lat['p99'] - base:+.2f} |")


if __name__ == "__main__":
    main()
