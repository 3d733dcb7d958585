#!/usr/bin/env bash
# Reproduces the "Server (issue: gateway, decision API)" section of
# docs/benchmarks.md: the latency the gateway adds over calling the upstream
# directly, decisions per second at saturation (closed loop and an open-loop
# sweep for the knee), and the server's memory at 12,000 and 1,000,000 keys.
#
#   crates/floodgate-loadgen/bench/server.sh            # everything (~10 min)
#   QUICK=1 crates/floodgate-loadgen/bench/server.sh    # short runs (smoke test)
#   PARTS=latency crates/floodgate-loadgen/bench/server.sh   # some parts only
#                                   # (latency, saturation, memory)
#
# Everything runs on this machine: upstream, floodgate and the loadgen share
# its cores. Results (JSON reports, logs, summary.md) go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../../.."

OUT=${OUT:-target/bench-server}
BASE_PORT=${BASE_PORT:-39400}
QUICK=${QUICK:-0}
LG_THREADS=${LG_THREADS:-2}
PARTS=${PARTS:-latency saturation memory}
PAIRS=${PAIRS:-3}
part() { [[ " $PARTS " == *" $1 "* ]]; }
mkdir -p "$OUT"
rm -f "$OUT"/*.json

cargo build --release -q -p floodgate-server -p floodgate-loadgen
B=target/release
LG="$B/floodgate-loadgen --threads $LG_THREADS"
SCEN=crates/floodgate-loadgen/scenarios
UP=127.0.0.1:$BASE_PORT
PUB=127.0.0.1:$((BASE_PORT + 1))
ADM=127.0.0.1:$((BASE_PORT + 2))

if [ "$QUICK" = 1 ]; then
    SCENARIO_ARGS=(--duration 12s --peak 4s,4s,1200)
    STEADY=5s; SAT=3s; SWEEP=2s; MILLION=100000
else
    SCENARIO_ARGS=()
    STEADY=15s; SAT=10s; SWEEP=5s; MILLION=1000000
fi

# shellcheck source=lib.sh
source crates/floodgate-loadgen/bench/lib.sh

# floodgate config from a template, with this run's ports.
config() {
    sed -e "s/127.0.0.1:8080/$PUB/; s/127.0.0.1:9090/$ADM/; s#http://127.0.0.1:3000#http://$UP#" "$1"
}

FG_PID=
start_floodgate() {
    "$B/floodgate" serve --config "$1" >"$OUT/floodgate-$2.log" 2>&1 &
    FG_PID=$!
    pids+=("$FG_PID")
    wait_up "http://$ADM/readyz"
}
stop_floodgate() {
    kill "$FG_PID"
    wait "$FG_PID" 2>/dev/null || true
}

mem() { # label
    local keys
    keys=$(curl -fs "http://$ADM/metrics" | awk '/^floodgate_active_keys /{print $2}')
    echo "$1 active_keys=$keys $(grep -E 'VmRSS|VmHWM' /proc/"$FG_PID"/status | tr -s ' \t' ' ' | tr '\n' ' ')" | tee -a "$OUT/memory.txt"
}

lg() { # name args...
    local name=$1
    shift
    echo "== $name" >&2
    $LG run --save "$OUT/$name.json" "$@" | tee "$OUT/$name.txt"
}

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "kernel: $(uname -r)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "uncommitted: $(git status --short --untracked-files=no 2>/dev/null | wc -l) files"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt"

"$B/floodgate-loadgen" --threads 1 upstream --listen "$UP" >"$OUT/upstream.log" 2>&1 &
pids+=("$!")
wait_up "http://$UP/"

# 1. Latency added by the gateway: the issue's traffic model (12,000 API
#    keys, zipf picks, 500/s with 1,200/s peaks), first straight to the
#    upstream, then through floodgate to the same upstream; then a steady
#    1,200/s both ways.
config "$SCEN/api-keys.floodgate.yaml" >"$OUT/gateway.yaml"
start_floodgate "$OUT/gateway.yaml" gateway
if part latency; then
lg direct-model --preset api-keys --url "http://$UP/api/v1/data" "${SCENARIO_ARGS[@]}"
lg gateway-model --preset api-keys --url "http://$PUB/api/v1/data" "${SCENARIO_ARGS[@]}" \
    --policy "$OUT/gateway.yaml"
# Alternate direct and gateway runs, so that noise from other processes
# on the machine hits both alike.
for i in $(seq "$PAIRS"); do
    lg "direct-1200-$i" --preset api-keys --url "http://$UP/api/v1/data" --rate 1200 --no-peaks \
        --duration "$STEADY"
    lg "gateway-1200-$i" --preset api-keys --url "http://$PUB/api/v1/data" --rate 1200 --no-peaks \
        --duration "$STEADY" --policy "$OUT/gateway.yaml"
done
fi

if part saturation; then
# 2. Saturation. Closed loop: N workers back to back. Open loop: rising
#    rates; the knee is where throughput stops following the offered rate
#    and latency from the schedule takes off.
for c in 1 8 32 128; do
    lg "closed-check-c$c" --preset api-keys --mode check --url "http://$ADM/v1/check" \
        --closed-loop "$c" --duration "$SAT" --no-peaks --pick uniform
    lg "closed-gateway-c$c" --preset api-keys --url "http://$PUB/api/v1/data" \
        --closed-loop "$c" --duration "$SAT" --no-peaks --pick uniform
done
for r in 2000 5000 10000 15000 20000 25000; do
    lg "open-check-$r" --preset api-keys --mode check --url "http://$ADM/v1/check" \
        --rate "$r" --no-peaks --duration "$SWEEP" --pick uniform
done
for r in 1000 2000 4000 6000 8000 10000 15000 20000; do
    lg "open-gateway-$r" --preset api-keys --url "http://$PUB/api/v1/data" \
        --rate "$r" --no-peaks --duration "$SWEEP" --pick uniform
done
fi
stop_floodgate

# 3. Memory: a policy whose state stays live for an hour (fixed window of
#    1h per API key), so every key driven through /v1/check stays in the
#    store; round robin sends every key once.
if part memory; then
config "$SCEN/memory.floodgate.yaml" >"$OUT/memory.yaml"
rm -f "$OUT/memory.txt"
start_floodgate "$OUT/memory.yaml" memory
mem "started"
lg mem-12k --mode check --url "http://$ADM/v1/check" --clients 12000 --pick round-robin \
    --closed-loop 32 --requests 12000 --duration 10m --no-peaks
mem "12000 keys"
lg mem-1m --mode check --url "http://$ADM/v1/check" --clients "$MILLION" --pick round-robin \
    --closed-loop 32 --requests "$MILLION" --duration 10m --no-peaks
mem "$MILLION keys"
stop_floodgate
fi

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

# Summary table.
row() { # name
    jq -r --arg n "$1" '[$n, .counts.sent, (.throughput_rps|floor),
        .counts.ok_200, .counts.limited_429, (.counts.other_status + .counts.errors),
        (.latency_from_schedule_ms // .latency_from_send_ms | .p50, .p99, .p999),
        (.latency_from_send_ms | .p50, .p99, .p999),
        (if .accuracy then "\(.accuracy.measured_allowed)/\(.accuracy.expected_allowed) (\(.accuracy.agreement_percent|.*1000|floor/1000)%)" else "" end)]
        | @tsv' "$OUT/$1.json"
}
{
    echo -e "run\tsent\tresp/s\t200\t429\tother+err\tsched p50\tsched p99\tsched p99.9\tsend p50\tsend p99\tsend p99.9\tallowed measured/expected (agreement)"
    for f in "$OUT"/*.json; do row "$(basename "$f" .json)"; done
} | column -t -s $'\t' | tee "$OUT/summary.txt"
if part memory; then cat "$OUT/memory.txt"; fi
