"""Floodgate's Python package against `limits` (the library under slowapi):
decisions per second and process CPU per decision, on memory and on Redis;
exactness on a hot key (2,000 requests, 64 at once, limit 80); and
all-or-nothing across the two limits of one request.

Not a test: it prints a Markdown report of one run. Needs a release build
of the package (`maturin develop --release` in crates/floodgate-py),
`limits` and `redis` installed, and `redis-server` on PATH (started here on
a free loopback port).

    python crates/floodgate-py/bench/compare_limits.py [--decisions 200000]
"""

import argparse
import asyncio
import platform
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
import limits.strategies

import floodgate


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis():
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}"
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("redis-server did not start")
        time.sleep(0.05)


def policy(limit, window="1h", n_limits=1):
    limits_ = [
        {"name": f"l{i}", "algorithm": "fixed_window", "limit": limit - 5 * i, "window": window}
        for i in range(n_limits)
    ]
    return {"rules": [{"name": "api", "key": "ip", "limits": limits_}]}


def measure(decide, n, clients):
    """Wall seconds and process CPU seconds of n decisions, one thread."""
    ips = [f"10.0.{i // 256}.{i % 256}" for i in range(clients)]
    decide(ips[0])  # warm
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        decide(ips[i % clients])
    return time.perf_counter() - wall, time.process_time() - cpu


def floodgate_decider(store):
    limiter = floodgate.Limiter(policy(10**9), store=store)
    return lambda ip: limiter.check("/api", ip=ip).allowed


def limits_decider(storage, strategy):
    limiter = strategy(storage)
    item = limits.parse("1000000000/hour")
    return lambda ip: limiter.hit(item, "api", ip)


def speed_rows(n, redis_url, prefix):
    rows = []
    cases = [
        ("memory", "floodgate (fixed_window)", lambda: floodgate_decider(None), n),
        ("memory", "limits (fixed-window)", lambda: limits_decider(limits.storage.MemoryStorage(), limits.strategies.FixedWindowRateLimiter), n),
        ("memory", "limits (moving-window)", lambda: limits_decider(limits.storage.MemoryStorage(), limits.strategies.MovingWindowRateLimiter), n),
        ("redis", "floodgate (fixed_window), check", lambda: floodgate_decider(floodgate.RedisStore(redis_url, key_prefix=prefix + "a:")), n // 10),
        ("redis", "limits (fixed-window)", lambda: limits_decider(limits.storage.RedisStorage(redis_url, key_prefix=prefix + "b"), limits.strategies.FixedWindowRateLimiter), n // 10),
        ("redis", "limits (moving-window)", lambda: limits_decider(limits.storage.RedisStorage(redis_url, key_prefix=prefix + "c"), limits.strategies.MovingWindowRateLimiter), n // 10),
    ]
    return rounds([(store, name, make, count, measure) for store, name, make, count in cases])


def rounds(cases, n_rounds=3):
    """Each case measured n_rounds times, taking turns (the machine is
    shared: load comes and goes); the median round of each."""
    seen = [[] for _ in cases]
    for _ in range(n_rounds):
        for i, (_, _, make, count, how) in enumerate(cases):
            # A limiter of its own each round (an async client belongs to
            # the event loop it was made in).
            wall, cpu = how(make(), count, 1000)
            seen[i].append((cpu / count * 1e6, count / wall))
    rows = []
    for (store, name, _, _, _), got in zip(cases, seen):
        cpu, rate = sorted(got)[len(got) // 2]
        rows.append((store, name, rate, cpu))
    return rows


def measure_async(decide, n, clients, at_once=64):
    """Wall and process CPU seconds of n decisions, `at_once` asyncio tasks
    in flight (as in an async web app)."""
    ips = [f"10.1.{i // 256}.{i % 256}" for i in range(clients)]

    async def run():
        await decide(ips[0])
        sem = asyncio.Semaphore(at_once)

        async def one(i):
            async with sem:
                await decide(ips[i % clients])

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - wall, time.process_time() - cpu

    return asyncio.run(run())


def async_rows(n, redis_url, prefix):
    item = limits.parse("1000000000/hour")

    def fg():
        limiter = floodgate.Limiter(policy(10**9), store=floodgate.RedisStore(redis_url, key_prefix=prefix + "i:"))

        async def decide(ip):
            return (await limiter.check_async("/api", ip=ip)).allowed

        return decide

    def lim(strategy, p):
        # Made in the round's event loop (its connections belong to it).
        storage = limits.aio.storage.RedisStorage("async+" + redis_url, implementation="redispy", key_prefix=p)
        limiter = strategy(storage)

        async def decide(ip):
            return await limiter.hit(item, "api", ip)

        return decide

    async def nothing(ip):
        return True

    where = "redis, 64 at once"
    return rounds([
        (where, "(no limiter: asyncio's own cost)", lambda: nothing, n, measure_async),
        (where, "floodgate (fixed_window), check_async", fg, n, measure_async),
        (where, "limits.aio (fixed-window)", lambda: lim(limits.aio.strategies.FixedWindowRateLimiter, prefix + "j"), n, measure_async),
        (where, "limits.aio (moving-window)", lambda: lim(limits.aio.strategies.MovingWindowRateLimiter, prefix + "k"), n, measure_async),
    ])


def hot_key(decide):
    with ThreadPoolExecutor(64) as pool:
        return sum(pool.map(lambda _: bool(decide("192.0.2.1")), range(2000)))


def exactness_rows(redis_url, prefix):
    item = limits.parse("80/hour")

    def lim(storage, strategy):
        limiter = strategy(storage)
        return lambda ip: limiter.hit(item, "hot", ip)

    def fg(store):
        limiter = floodgate.Limiter(policy(80), store=store)
        return lambda ip: limiter.check("/api", ip=ip).allowed

    return [
        ("memory", "floodgate", hot_key(fg(None))),
        ("memory", "limits (fixed-window)", hot_key(lim(limits.storage.MemoryStorage(), limits.strategies.FixedWindowRateLimiter))),
        ("memory", "limits (moving-window)", hot_key(lim(limits.storage.MemoryStorage(), limits.strategies.MovingWindowRateLimiter))),
        ("redis", "floodgate", hot_key(fg(floodgate.RedisStore(redis_url, key_prefix=prefix + "d:")))),
        ("redis", "limits (fixed-window)", hot_key(lim(limits.storage.RedisStorage(redis_url, key_prefix=prefix + "e"), limits.strategies.FixedWindowRateLimiter))),
        ("redis", "limits (moving-window)", hot_key(lim(limits.storage.RedisStorage(redis_url, key_prefix=prefix + "f"), limits.strategies.MovingWindowRateLimiter))),
    ]


def all_or_nothing(redis_url, prefix):
    """Two limits on one route: 10/hour for the client on every route, and
    5/hour on /api/five. 20 requests to /api/five; then what is left of
    the 10/hour limit for the client's other routes. slowapi hits each
    limit in turn and stops at the first that refuses."""
    doc = {"rules": [
        {"name": "client", "key": "ip", "limits": [{"algorithm": "fixed_window", "limit": 10, "window": "1h"}]},
        {"name": "five", "match": {"path": "/api/five"}, "key": "ip",
         "limits": [{"algorithm": "fixed_window", "limit": 5, "window": "1h"}]},
    ]}
    out = []
    for store_name, fg_store, storage in [
        ("memory", None, limits.storage.MemoryStorage()),
        ("redis", floodgate.RedisStore(redis_url, key_prefix=prefix + "g:"), limits.storage.RedisStorage(redis_url, key_prefix=prefix + "h")),
    ]:
        fgl = floodgate.Limiter(doc, store=fg_store)
        admitted = sum(fgl.check("/api/five", ip="192.0.2.2").allowed for _ in range(20))
        left = fgl.check("/api/other", ip="192.0.2.2").remaining + 1
        out.append((store_name, "floodgate", admitted, left))

        strat = limits.strategies.FixedWindowRateLimiter(storage)
        ten, five = limits.parse("10/hour"), limits.parse("5/hour")
        admitted = 0
        for _ in range(20):
            if strat.hit(ten, "client", "x") and strat.hit(five, "five", "x"):
                admitted += 1
        out.append((store_name, "limits (as slowapi)", admitted, strat.get_window_stats(ten, "client", "x").remaining))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=200_000)
    args = ap.parse_args()
    proc, url = start_redis()
    prefix = f"bench{int(time.time())}:"
    try:
        speed = speed_rows(args.decisions, url, prefix) + async_rows(args.decisions // 10, url, prefix)
        exact = exactness_rows(url, prefix)
        aon = all_or_nothing(url, prefix)
    finally:
        proc.terminate()
    print(f"Python {platform.python_version()}, limits {limits.__version__}, floodgate {floodgate.__version__}, "
          f"{platform.machine()}\n")
    print("One thread, one decision at a time (64 asyncio tasks where said); 1,000 client IPs in turn;"
          " process CPU (the limiter's own threads included, redis-server's not); median of 3 rounds taken in turns\n")
    print("| store | library | decisions/s | CPU µs per decision |")
    print("|---|---|---:|---:|")
    for store, name, rate, cpu in speed:
        print(f"| {store} | {name} | {rate:,.0f} | {cpu:.1f} |")
    print("\nHot key: 2,000 requests, 64 threads at once, limit 80 (per hour)\n")
    print("| store | library | admitted |")
    print("|---|---|---:|")
    for store, name, n in exact:
        print(f"| {store} | {name} | {n} |")
    print("\nOne request under two limits (10/hour and 5/hour), 20 requests\n")
    print("| store | library | admitted | left of the 10/hour limit |")
    print("|---|---|---:|---:|")
    for store, name, n, left in aon:
        print(f"| {store} | {name} | {n} | {left} |")


if __name__ == "__main__":
    main()
