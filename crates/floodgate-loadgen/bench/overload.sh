#!/usr/bin/env bash
# Reproduces the "Overload protection" section of docs/benchmarks.md: the
# gateway in front of a slow upstream of bounded capacity, with load
# shedding (`overload:` defaults) and without it (`overload.enabled:
# false`), side by side in one run:
#
#   1. unloaded: open loop at a quarter of the upstream's capacity;
#   2. the knee: closed loop (64 workers) through the unprotected gateway;
#   3. overload: open loop at twice the knee;
#   4. recovery: right after, a quarter of the capacity again;
#   5. cold start: a third gateway (defaults), started fresh, whose first
#      load is the overload.
#
#   crates/floodgate-loadgen/bench/overload.sh
#   DELAY=5ms WORKERS=16 DUR=10s crates/floodgate-loadgen/bench/overload.sh
#   SKIP_BUILD=1 crates/floodgate-loadgen/bench/overload.sh   # binaries built
#
# Everything runs on this machine. Results (JSON reports, logs,
# summary.md) go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../../.."

OUT=${OUT:-target/bench-overload}
BASE_PORT=${BASE_PORT:-39500}
DELAY=${DELAY:-5ms}
WORKERS=${WORKERS:-16}
DUR=${DUR:-10s}
LG_THREADS=${LG_THREADS:-1}
mkdir -p "$OUT"
rm -f "$OUT"/*.json

# SKIP_BUILD=1 reuses the release binaries already built.
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p floodgate-server -p floodgate-loadgen
B=target/release
LG="$B/floodgate-loadgen --threads $LG_THREADS"
UP=127.0.0.1:$BASE_PORT

# shellcheck source=lib.sh
source crates/floodgate-loadgen/bench/lib.sh

# A gateway config: $1 public port, $2 admin port, $3 the overload section.
config() {
    cat <<EOF
listen: 127.0.0.1:$1
admin: { listen: 127.0.0.1:$2 }
upstream: http://$UP
upstream_timeout: 30s
# Every load generator connection comes from 127.0.0.1: lift the per-IP
# connection bound so that the in-flight bound is what is measured.
connections: { max_per_ip: 100000, max: 100000 }
$3
log: { level: warn }
rules:
  - name: per-key
    key: api_key
    limits:
      - { algorithm: token_bucket, capacity: 1000000, refill: 1000000/s }
EOF
}

lg() { # name args...
    local name=$1
    shift
    echo "== $name" >&2
    $LG run --save "$OUT/$name.json" --preset api-keys --no-peaks --timeout 30s "$@" \
        | tee "$OUT/$name.txt"
}

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "upstream: delay $DELAY, $WORKERS workers"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

"$B/floodgate-loadgen" --threads 1 upstream --listen "$UP" --delay "$DELAY" \
    --workers "$WORKERS" >"$OUT/upstream.log" 2>&1 &
pids+=("$!")
wait_up "http://$UP/"

# PROTECTED: the protected gateway's overload section (default: none, so
# every default), e.g. PROTECTED="overload: { tolerance: 1.5 }".
config $((BASE_PORT + 1)) $((BASE_PORT + 2)) "${PROTECTED:-}" >"$OUT/protected.yaml"
config $((BASE_PORT + 3)) $((BASE_PORT + 4)) "overload: { enabled: false }" >"$OUT/unprotected.yaml"
# The cold gateway starts later, when the load generator's connections
# hold ports of the ephemeral range: its ports are taken below it.
free_port COLD_PORT
free_port COLD_ADMIN
config "$COLD_PORT" "$COLD_ADMIN" "${PROTECTED:-}" >"$OUT/cold.yaml"
"$B/floodgate" serve --config "$OUT/protected.yaml" >"$OUT/protected.log" 2>&1 &
pids+=("$!")
"$B/floodgate" serve --config "$OUT/unprotected.yaml" >"$OUT/unprotected.log" 2>&1 &
pids+=("$!")
wait_up "http://127.0.0.1:$((BASE_PORT + 2))/readyz"
wait_up "http://127.0.0.1:$((BASE_PORT + 4))/readyz"

# Capacity in requests per second: workers / delay.
delay_ms=$(echo "$DELAY" | sed -E 's/ms$//; s/s$/000/')
capacity=$((WORKERS * 1000 / delay_ms))
quarter=$((capacity / 4))

lg knee --url "http://127.0.0.1:$((BASE_PORT + 3))/api/v1/data" --closed-loop 64 --duration 5s
knee=$(jq -r '.throughput_rps | floor' "$OUT/knee.json")
twice=$((knee * 2))
echo "capacity $capacity/s, measured knee $knee/s, overload at $twice/s" | tee "$OUT/rates.txt"

for g in protected unprotected; do
    if [ "$g" = protected ]; then port=$((BASE_PORT + 1)); else port=$((BASE_PORT + 3)); fi
    url="http://127.0.0.1:$port/api/v1/data"
    lg "$g-unloaded" --url "$url" --rate "$quarter" --duration "$DUR"
    lg "$g-overload" --url "$url" --rate "$twice" --duration "$DUR"
    lg "$g-recovery" --url "$url" --rate "$quarter" --duration "$DUR"
done
curl -fs "http://127.0.0.1:$((BASE_PORT + 2))/metrics" | grep '^floodgate_overload' >"$OUT/protected-metrics.txt"

# The cold start: a gateway that has seen no request meets the overload.
"$B/floodgate" serve --config "$OUT/cold.yaml" >"$OUT/cold.log" 2>&1 &
pids+=("$!")
wait_up "http://127.0.0.1:$COLD_ADMIN/readyz"
lg cold-overload --url "http://127.0.0.1:$COLD_PORT/api/v1/data" --rate "$twice" --duration "$DUR"
curl -fs "http://127.0.0.1:$COLD_ADMIN/metrics" | grep '^floodgate_overload' >"$OUT/cold-metrics.txt"

{
    echo "| gateway | phase | offered/s | 200 | 503 | errors | p99 of 200 (ms) | p99 of 503 (ms) |"
    echo "|---|---|---|---|---|---|---|---|"
    for g in protected unprotected; do
        for phase in unloaded overload recovery; do
            jq -r --arg g "$g" --arg p "$phase" \
                '"| \($g) | \($p) | \(.offered_rps | floor) | \(.counts.ok_200) | \(.latency_by_status_ms["503"].count // 0) | \(.counts.errors) | \(.latency_by_status_ms["200"].p99 // "-") | \(.latency_by_status_ms["503"].p99 // "-") |"' \
                "$OUT/$g-$phase.json"
        done
    done
    jq -r '"| cold start | overload | \(.offered_rps | floor) | \(.counts.ok_200) | \(.latency_by_status_ms["503"].count // 0) | \(.counts.errors) | \(.latency_by_status_ms["200"].p99 // "-") | \(.latency_by_status_ms["503"].p99 // "-") |"' \
        "$OUT/cold-overload.json"
} | tee "$OUT/summary.md"
