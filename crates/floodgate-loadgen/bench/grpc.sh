#!/usr/bin/env bash
# Reproduces the "Envoy rate limit service (gRPC)" section of
# docs/benchmarks.md, in one run, against the release binaries:
#
#   1. saturation: `ShouldRateLimit` decisions per second at 64 concurrent
#      streams (closed loop) over 12,000 API keys, next to the decision API
#      `POST /v1/check` with the same load shape (64 workers, same keys,
#      same limit) on the same server; on the memory store, then on a real
#      Redis (a redis-server this script starts on a free port);
#   2. latency: open loop at a steady 1,200 decisions/s (the api-keys
#      traffic model: 12,000 keys picked zipf), gRPC and `POST /v1/check`,
#      on both stores.
#
# gRPC and HTTP runs alternate, PAIRS times, the one going first swapping
# at each pair, so that noise from other processes hits both alike; the
# summary gives each pair's gRPC/HTTP ratio.
#
#   crates/floodgate-loadgen/bench/grpc.sh
#   PAIRS=5 SAT=10s LAT=20s crates/floodgate-loadgen/bench/grpc.sh
#   SKIP_BUILD=1 crates/floodgate-loadgen/bench/grpc.sh   # binaries built
#   PERF=1 crates/floodgate-loadgen/bench/grpc.sh   # + perf profile of the
#                                   # server in a gRPC saturation run (perf.txt)
#
# Everything (loadgen, floodgate, redis-server) runs on this machine.
# Results (JSON reports, logs, summary.md) go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
    echo "needs redis-server and redis-cli" >&2
    exit 1
}

OUT=${OUT:-target/bench-grpc}
SAT=${SAT:-10s}             # each closed-loop run
LAT=${LAT:-15s}             # each open-loop run
PAIRS=${PAIRS:-3}           # gRPC/HTTP pairs of each kind
STREAMS=${STREAMS:-64}      # concurrent streams (gRPC) and workers (HTTP)
CONNECTIONS=${CONNECTIONS:-2} # HTTP/2 connections of the gRPC runs
RATE=${RATE:-1200}          # open-loop decisions per second
LG_THREADS=${LG_THREADS:-2}
PERF=${PERF:-0}
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.txt "$OUT"/*.log "$OUT"/*.cpu "$OUT"/perf.data*

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p floodgate-server -p floodgate-loadgen
B=target/release
LG="$B/floodgate-loadgen --threads $LG_THREADS"
SCEN=crates/floodgate-loadgen/scenarios

# shellcheck source=lib.sh
source crates/floodgate-loadgen/bench/lib.sh

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "kernel: $(uname -r)"
    echo "redis: $(redis-server --version | cut -d' ' -f3)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "streams: $STREAMS over $CONNECTIONS HTTP/2 connections; open loop: $RATE/s"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

free_port REDIS
redis-server --bind 127.0.0.1 --port "$REDIS" --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do redis-cli -p "$REDIS" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$REDIS" ping >/dev/null

# The shipped envoy-grpc policy (the same token bucket for descriptors on
# the gRPC listener and for API keys on /v1/check) with this run's ports
# and store: $1 memory or redis. Sets ADM and GRPC.
declare -A ADM GRPC
config() {
    local pub
    free_port pub
    free_port "ADM[$1]"
    free_port "GRPC[$1]"
    sed -e "s/127.0.0.1:8080/127.0.0.1:$pub/; s/127.0.0.1:9090/127.0.0.1:${ADM[$1]}/" \
        -e "s/127.0.0.1:8081/127.0.0.1:${GRPC[$1]}/; /^store:/,\$d" \
        "$SCEN/envoy-grpc.floodgate.yaml"
    if [ "$1" = redis ]; then
        printf 'store:\n  kind: redis\n  url: redis://127.0.0.1:%s\n' "$REDIS"
    else
        printf 'store:\n  kind: memory\n  max_keys: 2000000\n'
    fi
}

declare -A SERVER
for store in memory redis; do
    config "$store" >"$OUT/$store.yaml"
    "$B/floodgate" serve --watch off --config "$OUT/$store.yaml" >"$OUT/floodgate-$store.log" 2>&1 &
    SERVER[$store]=$!
    pids+=("$!")
    wait_up "http://127.0.0.1:${ADM[$store]}/readyz"
done

# CPU time (user + system, in clock ticks) of process $1 so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# Runs the loadgen; also writes the server's CPU µs per decision of the
# run to $OUT/name.cpu (the server's own cost, whatever the loadgen's).
lg() { # name store args...
    local name=$1 pid=${SERVER[$2]} before
    shift 2
    echo "== $name" >&2
    before=$(ticks "$pid")
    $LG run --save "$OUT/$name.json" "$@" | tee "$OUT/$name.txt"
    awk -v t=$(($(ticks "$pid") - before)) -v hz="$HZ" -v n="$(jq .counts.sent "$OUT/$name.json")" \
        'BEGIN { printf "%.1f\n", t * 1e6 / hz / n }' >"$OUT/$name.cpu"
}
grpc_run() { # name store args...
    local name=$1 store=$2
    shift 2
    lg "$name" "$store" --preset envoy-grpc --url "http://127.0.0.1:${GRPC[$store]}" \
        --connections "$CONNECTIONS" "$@"
}
check_run() { # name store args...
    local name=$1 store=$2
    shift 2
    lg "$name" "$store" --preset api-keys --mode check --url "http://127.0.0.1:${ADM[$store]}/v1/check" "$@"
}
# Runs a gRPC and an HTTP run of pair $1 (gRPC first in odd pairs).
pair() { # i store kind args...
    local i=$1 store=$2 kind=$3
    shift 3
    if ((i % 2)); then
        grpc_run "$store-$kind-grpc-$i" "$store" "$@"
        check_run "$store-$kind-check-$i" "$store" "$@"
    else
        check_run "$store-$kind-check-$i" "$store" "$@"
        grpc_run "$store-$kind-grpc-$i" "$store" "$@"
    fi
}

for store in memory redis; do
    # 1. Saturation: keys picked uniformly over the 12,000 (each key about
    #    2 calls/s, under its refill of 10/s: nearly all allowed, so every
    #    call writes its counter).
    for i in $(seq "$PAIRS"); do
        pair "$i" "$store" sat --closed-loop "$STREAMS" --duration "$SAT" --no-peaks --pick uniform \
            --key-prefix "s$i-"
    done
    # 2. Latency at a steady rate, the api-keys traffic model (zipf: hot
    #    keys are limited); fresh keys for each run, so the policy replay
    #    holds.
    for i in $(seq "$PAIRS"); do
        pair "$i" "$store" lat --rate "$RATE" --no-peaks --duration "$LAT" \
            --key-prefix "l$i-" --policy "$OUT/memory.yaml"
    done
done

if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
    grpc_run perf-memory-grpc memory --closed-loop "$STREAMS" --duration 8s --no-peaks --pick uniform \
        --key-prefix p- >/dev/null &
    lgpid=$!
    sleep 1
    perf record -F 999 --call-graph dwarf,8192 -o "$OUT/perf.data" -p "${SERVER[memory]}" \
        -- sleep 5 >/dev/null 2>&1 || true
    wait "$lgpid"
    # Inclusive shares: where the server's time goes, call trees folded.
    perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -80 >"$OUT/perf.txt" || true
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

field() { jq -r "$2" "$OUT/$1.json"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
{
    echo "Saturation: $STREAMS concurrent calls (gRPC: streams over $CONNECTIONS connections; HTTP: workers), closed loop, $SAT each; server CPU µs per decision."
    echo
    echo "| store | pair | gRPC decisions/s | p50 / p99 (ms) | server µs | /v1/check decisions/s | p50 / p99 (ms) | server µs | gRPC / HTTP decisions/s | gRPC / HTTP server µs |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for store in memory redis; do
        for i in $(seq "$PAIRS"); do
            row="| $store | $i"
            for m in grpc check; do
                n=$store-sat-$m-$i
                row="$row | $(field "$n" '.throughput_rps | floor') | $(field "$n" '"\(.latency_from_send_ms.p50) / \(.latency_from_send_ms.p99)"') | $(cat "$OUT/$n.cpu")"
            done
            g=$store-sat-grpc-$i c=$store-sat-check-$i
            echo "$row | $(ratio "$(field "$g" .throughput_rps)" "$(field "$c" .throughput_rps)") | $(ratio "$(cat "$OUT/$g.cpu")" "$(cat "$OUT/$c.cpu")") |"
        done
    done
    echo
    echo "Latency: open loop at $RATE/s, $LAT each, from the scheduled send (ms); server CPU µs per decision."
    echo
    echo "| store | pair | gRPC p50 | p99 | p99.9 | server µs | /v1/check p50 | p99 | p99.9 | server µs | gRPC allowed measured/expected | errors (gRPC, HTTP) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for store in memory redis; do
        for i in $(seq "$PAIRS"); do
            row="| $store | $i"
            for m in grpc check; do
                n=$store-lat-$m-$i
                row="$row | $(field "$n" '.latency_from_schedule_ms | "\(.p50) | \(.p99) | \(.p999)"') | $(cat "$OUT/$n.cpu")"
            done
            g=$store-lat-grpc-$i c=$store-lat-check-$i
            echo "$row | $(field "$g" '"\(.accuracy.measured_allowed)/\(.accuracy.expected_allowed)"') | $(field "$g" .counts.errors), $(field "$c" .counts.errors) |"
        done
    done
} | tee "$OUT/summary.md"
