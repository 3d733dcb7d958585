#!/usr/bin/env python3
"""Redis' cost of the decide library itself, per decision.

Loads the library built from a directory of the Lua sources (by default
this checkout's `crates/floodgate-redis/lua`; pass another, for example an
older commit's extracted with `git archive`, to compare) under a name of
its own, then sends gathered `FCALL`s as the store does under load: R
requests per call, each one fixed-window check (40 per 4 s) on a key
picked from 12,000, 50 calls per pipeline. Prints `FCALL` µs per decision
(Redis' `commandstats`) and the redis-server process's CPU µs per decision
(`/proc`), median of ROUNDS rounds. `--packed` sends each request packed
in one argument (a `G` call, as the store does unless a request takes
slices); without it, as eight arguments (a `g` call).

Needs `redis` (pip) and a redis-server to talk to:

    redis-server --port 16379 --save '' --daemonize yes
    python3 crates/floodgate-redis/bench/script_cost.py --port 16379
    python3 crates/floodgate-redis/bench/script_cost.py --port 16379 --packed
    python3 crates/floodgate-redis/bench/script_cost.py --port 16379 --lua /tmp/old/lua

It flushes the database it is given (`--db`, default 15).
"""
import argparse
import os
import random
import statistics

import redis

FILES = ["common", "token_bucket", "leaky_bucket", "fixed_window", "sliding_log",
         "sliding_counter", "gcra", "concurrency", "check"]


def library(lua_dir, name):
    body = "".join(open(os.path.join(lua_dir, f + ".lua")).read() for f in FILES)
    body += open(os.path.join(lua_dir, "function.lua")).read()
    return f"#!lua name={name}\nlocal FLOODGATE_FUNCTION = '{name}'\n{body}"


def main():
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lua")
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6379)
    ap.add_argument("--db", type=int, default=15)
    ap.add_argument("--lua", default=here)
    ap.add_argument("--per-call", type=int, default=11)
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--packed", action="store_true",
                    help="send each request packed in one argument (a 'G' call, as the store "
                         "does), not as eight (a 'g' call)")
    args = ap.parse_args()
    r = redis.Redis(port=args.port, db=args.db)
    name = "script_cost_bench"
    r.execute_command("FUNCTION", "LOAD", "REPLACE", library(args.lua, name))
    pid = int(r.info("server")["process_id"])
    hz = os.sysconf("SC_CLK_TCK")

    def ticks():
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])

    rnd = random.Random(1)
    R = args.per_call
    batches = []
    for _ in range(2000):
        keys = [f"{{b}}k:{rnd.randrange(12000)}:fw" for _ in range(R)]
        if args.packed:
            one = b"c\x01\x00fw" + b"".join(v.to_bytes(8, "big") for v in (40, 4_000_000, 0, 1))
            a = ["G", 0, R] + [one] * R
        else:
            a = ["g", 0, R]
            for _ in range(R):
                a += ["c", "", 1, "fw", 40, 4_000_000, 0, 1]
        batches.append((keys, a))
    fcall, cpu = [], []
    for _ in range(args.rounds):
        r.flushdb()
        r.config_resetstat()
        t0 = ticks()
        p = r.pipeline(transaction=False)
        for i in range(args.calls):
            keys, a = batches[i % len(batches)]
            p.execute_command("FCALL", name, len(keys), *keys, *a)
            if i % 50 == 49:
                p.execute()
        p.execute()
        t1 = ticks()
        n = args.calls * R
        fcall.append(r.info("commandstats")["cmdstat_fcall"]["usec"] / n)
        cpu.append((t1 - t0) / hz * 1e6 / n)
    r.execute_command("FUNCTION", "DELETE", name)
    r.flushdb()
    how = "packed" if args.packed else "one argument per value"
    print(f"{os.path.normpath(args.lua)} ({how}): {R} decisions per FCALL: FCALL {statistics.median(fcall):.2f} µs "
          f"per decision, redis-server CPU {statistics.median(cpu):.2f} µs per decision "
          f"(median of {args.rounds})")


if __name__ == "__main__":
    main()
