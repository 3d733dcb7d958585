#!/usr/bin/env bash
# The Redis backend through the server, as the Redis issue asks:
#   1. POST /v1/check at concurrency 64 (closed loop, 12,000 API keys,
#      token bucket of 40 refilled at 10/s) on a server whose store is Redis,
#      next to redis-benchmark running the same FCALL at -c 64 against the
#      same redis-server, in the same run: the ceiling Redis itself sets.
#   2. The latency a Redis store adds over the memory store: the decision
#      API at 1,200 decisions/s over 12,000 clients, open loop, memory then
#      Redis (alternating, PAIRS times).
# Prints a markdown summary; reports go to $OUT. Row 1 also gives the
# server's CPU per decision (user + system, from /proc). BIN=DIR runs the
# binaries in DIR (default target/release; BUILD=0 skips the build), e.g.
# an older build beside this one.
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
    echo "needs redis-server and redis-benchmark" >&2
    exit 1
}
OUT=${OUT:-target/bench-redis-server}
SECS=${SECS:-10}
PAIRS=${PAIRS:-3}
PORT=${BASE_PORT:-39500}
REDIS=$PORT
ADM=127.0.0.1:$((PORT + 2))
PUB=127.0.0.1:$((PORT + 1))
mkdir -p "$OUT"
rm -f "$OUT"/*.json

[ "${BUILD:-1}" = 0 ] || cargo build --release -q -p floodgate-server -p floodgate-loadgen
B=${BIN:-target/release}
LG="$B/floodgate-loadgen"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

redis-server --port "$REDIS" --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$REDIS" ping >/dev/null 2>&1 && break; sleep 0.1; done

config() { # $1: store section
    cat <<YAML
listen: $PUB
admin: { listen: $ADM }
log: { level: warn }
rules:
  - name: per-key
    key: api_key
    limits:
      - { algorithm: token_bucket, capacity: 40, refill: 10/s }
store:
$1
YAML
}
config "  kind: redis
  url: redis://127.0.0.1:$REDIS
  timeout: 200ms" >"$OUT/redis.yaml"
config "  kind: memory" >"$OUT/memory.yaml"

serve() { # $1: config
    $B/floodgate serve --watch off --config "$1" >>"$OUT/server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do curl -fs "http://$ADM/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
    echo "server did not start" >&2
    exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; }

CHECK=(--mode check --url "http://$ADM/v1/check" --path /api/v1/data --identity api-key
    --clients 12000 --json)
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

echo "## 1. Concurrency 64: server with Redis vs redis-benchmark"
redis-cli -p "$REDIS" flushall >/dev/null
serve "$OUT/redis.yaml"
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
t0=$(ticks)
$LG run "${CHECK[@]}" --pick uniform --closed-loop 64 --duration "${SECS}s" --save "$OUT/c64-redis.json" >/dev/null
t1=$(ticks)
stop
# The server loaded the library (Redis 7: FCALL) and decided with it.
cargo build -q -p floodgate-redis --example lua
NAME=$(target/debug/examples/lua name)
# The store's call for token_bucket(40, 10/s), cost 1, Redis TIME: mode,
# time, least TTL, algorithm, capacity, k = 1, P = 100000 µs, cost.
redis-benchmark -p "$REDIS" -c 64 -n $((SECS * 40000)) -r 12000 --csv \
    FCALL "$NAME" 1 "fg:{k:__rand_int__}:7pXr0l" c "" 0 tb 40 1 100000 1 >"$OUT/redis-benchmark.csv"
rb_rps=$(tail -1 "$OUT/redis-benchmark.csv" | cut -d, -f2 | tr -d '"')
rb_p50=$(tail -1 "$OUT/redis-benchmark.csv" | cut -d, -f5 | tr -d '"')
rb_p99=$(tail -1 "$OUT/redis-benchmark.csv" | cut -d, -f7 | tr -d '"')
fg_rps=$(field "$OUT/c64-redis.json" "round(d['throughput_rps'])")
fg_p50=$(field "$OUT/c64-redis.json" "d['latency_from_send_ms']['p50']")
fg_p99=$(field "$OUT/c64-redis.json" "d['latency_from_send_ms']['p99']")
fg_n=$(field "$OUT/c64-redis.json" "d['counts']['sent']")
fg_cpu=$(python3 -c "print(round(($t1 - $t0) / $(getconf CLK_TCK) * 1e6 / $fg_n, 1))")
echo "| | decisions/s | p50 (ms) | p99 (ms) | server CPU µs per decision |"
echo "|---|---:|---:|---:|---:|"
echo "| redis-benchmark FCALL -c 64 | $rb_rps | $rb_p50 | $rb_p99 | |"
echo "| floodgate POST /v1/check, Redis store, 64 workers | $fg_rps | $fg_p50 | $fg_p99 | $fg_cpu |"
python3 -c "print(f'ratio: {$fg_rps / float($rb_rps):.0%} of the ceiling')"

echo
echo "## 2. Added latency of the Redis store at 1,200 decisions/s, 12,000 clients"
echo "| pair | memory p50 | memory p99 | Redis p50 | Redis p99 | p99 added |"
echo "|---|---:|---:|---:|---:|---:|"
for i in $(seq "$PAIRS"); do
    for store in memory redis; do
        redis-cli -p "$REDIS" flushall >/dev/null
        serve "$OUT/$store.yaml"
        $LG run "${CHECK[@]}" --rate 1200 --no-peaks --duration "${SECS}s" --save "$OUT/paced-$store-$i.json" >/dev/null
        stop
    done
    m50=$(field "$OUT/paced-memory-$i.json" "d['latency_from_schedule_ms']['p50']")
    m99=$(field "$OUT/paced-memory-$i.json" "d['latency_from_schedule_ms']['p99']")
    r50=$(field "$OUT/paced-redis-$i.json" "d['latency_from_schedule_ms']['p50']")
    r99=$(field "$OUT/paced-redis-$i.json" "d['latency_from_schedule_ms']['p99']")
    echo "| $i | $m50 | $m99 | $r50 | $r99 | $(python3 -c "print(round($r99 - $m99, 3))") |"
done
