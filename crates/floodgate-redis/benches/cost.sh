#!/usr/bin/env bash
# Redis CPU per decision, from INFO commandstats: redis-benchmark sends the
# store's very call (64 connections, keys spread over 12,000 clients,
# Redis TIME) for each algorithm and for a request of two limits, through
# Redis Functions (FCALL) and through the script (EVALSHA), and, when
# BEFORE=<git revision> is set, through that revision's script too, all
# against one fresh redis-server in one run, the ways taking turns per row
# (the machine is shared: compare within a run). Prints a markdown table of
# usec_per_call (µs of Redis CPU per call; one call = one request).
#
#   BEFORE=<rev> N=200000 crates/floodgate-redis/benches/cost.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
    echo "needs redis-server and redis-benchmark" >&2
    exit 1
}
N=${N:-200000}
PORT=${PORT:-39611}
OUT=${OUT:-target/bench-cost}
mkdir -p "$OUT"

cargo build -q -p floodgate-redis --example lua
LUA=target/debug/examples/lua

redis-server --port "$PORT" --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
cli() { redis-cli -p "$PORT" "$@"; }

$LUA library | cli -x FUNCTION LOAD REPLACE >/dev/null
NAME=$($LUA name)
SHA=$($LUA script | cli -x SCRIPT LOAD)
ways=("FCALL $NAME" "EVALSHA $SHA")
labels=("FCALL (Functions)" "EVALSHA (script)")
if [ -n "${BEFORE:-}" ]; then
    old=""
    for f in common token_bucket leaky_bucket fixed_window sliding_log sliding_counter gcra check; do
        old+="$(git show "$BEFORE:crates/floodgate-redis/lua/$f.lua")"$'\n'
    done
    OLD_SHA=$(printf '%s' "$old" | cli -x SCRIPT LOAD)
    ways+=("EVALSHA $OLD_SHA")
    labels+=("EVALSHA at $BEFORE")
fi

# One call's keys and arguments: mode, time ('' = Redis TIME), least TTL,
# then per limit code, a, b, c, cost (see lua/check.lua).
key() { echo "fg:{k:__rand_int__}:$1"; }
rows=(
    "token bucket (40, 10/s)|1 $(key tbtbtb) c '' 0 tb 40 1 100000 1"
    "leaky bucket, policing|1 $(key lblblb) c '' 0 lb 40 1 100000 1"
    "leaky bucket, shaping|1 $(key lslsls) c '' 0 ls 40 1 100000 1"
    "fixed window (40 per 1s)|1 $(key fwfwfw) c '' 0 fw 40 1000000 0 1"
    "sliding log (40 per 1s)|1 $(key slslsl) c '' 0 sl 40 1000000 0 1"
    "sliding counter (40 per 1s)|1 $(key scscsc) c '' 0 sc 40 1000000 0 1"
    "GCRA (10/s, burst 40)|1 $(key gcgcgc) c '' 0 gc 40 1 100000 1"
    "two limits: token bucket + fixed window|2 $(key tbtbtb) $(key fwfwfw) c '' 0 tb 40 1 100000 1 fw 100 60000000 0 1"
)

header="| request |"
sep="|---|"
for l in "${labels[@]}"; do header+=" $l µs |"; sep+="---:|"; done
echo "$header"
echo "$sep"
for row in "${rows[@]}"; do
    name=${row%%|*}
    eval "args=(${row#*|})"
    line="| $name |"
    for way in "${ways[@]}"; do
        cli FLUSHALL >/dev/null
        cli CONFIG RESETSTAT >/dev/null
        # shellcheck disable=SC2086
        redis-benchmark -p "$PORT" -c 64 -n "$N" -r 12000 --csv $way "${args[@]}" >"$OUT/last.csv"
        cmd=$(echo "${way%% *}" | tr 'A-Z' 'a-z')
        us=$(cli INFO commandstats | tr -d '\r' | grep "^cmdstat_$cmd:" | sed 's/.*usec_per_call=\([0-9.]*\).*/\1/')
        failed=$(cli INFO commandstats | tr -d '\r' | grep "^cmdstat_$cmd:" | sed 's/.*failed_calls=\([0-9]*\).*/\1/')
        [ "$failed" = 0 ] || { echo "$way: $failed failed calls" >&2; exit 1; }
        line+=" $us |"
    done
    echo "$line"
done
