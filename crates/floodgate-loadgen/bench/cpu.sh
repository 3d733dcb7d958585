#!/usr/bin/env bash
# Server CPU per request, from /proc: the µs of CPU (user + system) the
# floodgate process spends per request while the load generator drives it
# at concurrency 64 (closed loop, 12,000 clients), for
#   1. the decision API, `POST /v1/check`, memory store;
#   2. the gateway, `GET /api/v1/data` proxied to a local upstream;
# and, as a floor, the same calls as 1. to that upstream (a bare axum
# server on one thread, no decision), its CPU per request.
# ROUNDS alternates them (the machine is shared: compare within a run).
# PERF=1 also records a `perf` profile of each (needs perf) into $OUT.
# PIN=1 runs the server and the upstream on CPU 0 and the load generator
# on CPU 1 (taskset; less noise, best with THREADS=1). The gateway runs
# with `overload: { adaptive: false }`, so that every request is forwarded;
# the "answered 200" column says so.
# THREADS=N sets the server's `threads` (default: one per CPU); BIN=DIR
# runs the binaries in DIR (default target/release; BUILD=0 skips the
# build), e.g. an older build beside this one.
#
#   SECS=8 ROUNDS=2 crates/floodgate-loadgen/bench/cpu.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-target/bench-cpu}
SECS=${SECS:-8}
ROUNDS=${ROUNDS:-2}
PERF=${PERF:-0}
PORT=${BASE_PORT:-39700}
UP=127.0.0.1:$PORT
PUB=127.0.0.1:$((PORT + 1))
ADM=127.0.0.1:$((PORT + 2))
mkdir -p "$OUT"

[ "${BUILD:-1}" = 0 ] || cargo build --release -q -p floodgate-server -p floodgate-loadgen
B=${BIN:-target/release}
SIDE=()
LOAD=()
if [ "${PIN:-0}" = 1 ]; then
    SIDE=(taskset -c 0)
    LOAD=(taskset -c 1)
fi
LG="$B/floodgate-loadgen --threads 1"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    # Gone before the script ends: a next run can take the ports.
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

cat >"$OUT/memory.yaml" <<YAML
listen: $PUB
admin: { listen: $ADM }
upstream: http://$UP
log: { level: warn }
${THREADS:+threads: $THREADS}
# Every gateway request is forwarded: the adaptive bound would shed some
# (503, cheaper) as the upstream, on the same cores, slows down.
overload: { adaptive: false }
rules:
  - name: per-key
    key: api_key
    limits:
      - { algorithm: token_bucket, capacity: 40, refill: 10/s }
YAML

"${SIDE[@]}" $LG upstream --listen "$UP" >"$OUT/upstream.log" 2>&1 &
upstream=$!
pids+=($upstream)
"${SIDE[@]}" $B/floodgate serve --watch off --config "$OUT/memory.yaml" >"$OUT/server.log" 2>&1 &
server=$!
pids+=($server)
for _ in $(seq 100); do curl -fs "http://$ADM/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

measured=$server
ticks() { awk '{print $14 + $15}' "/proc/$measured/stat"; }
hz=$(getconf CLK_TCK)
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

run() { # $1: label, then loadgen arguments
    local label=$1
    shift
    local t0 t1 n
    [ "$PERF" = 1 ] && { perf record -F 999 -g -p "$measured" -o "$OUT/$label.perf" >/dev/null 2>&1 & perf=$!; }
    t0=$(ticks)
    "${LOAD[@]}" $LG run "$@" --clients 12000 --closed-loop 64 --duration "${SECS}s" --json --save "$OUT/$label.json" >/dev/null
    t1=$(ticks)
    [ "$PERF" = 1 ] && { kill -INT "$perf"; wait "$perf" 2>/dev/null || true; }
    n=$(field "$OUT/$label.json" "d['counts']['sent']")
    rps=$(field "$OUT/$label.json" "round(d['throughput_rps'])")
    ok=$(field "$OUT/$label.json" "f\"{d['counts']['ok_200'] / max(1, d['counts']['sent']):.1%}\"")
    python3 -c "print(f'| $label | $rps | $ok | {($t1 - $t0) / $hz * 1e6 / $n:.1f} |')"
}

echo "| | requests/s | answered 200 | server CPU µs per request |"
echo "|---|---:|---:|---:|"
for i in $(seq "$ROUNDS"); do
    # The floor: the same calls to the load generator's upstream (a bare
    # axum server on one thread answering a fixed JSON body, no decision);
    # the CPU is the upstream's.
    measured=$upstream
    run "floor-$i" --mode check --url "http://$UP/v1/check" --path /api/v1/data --identity api-key --pick uniform
    measured=$server
    run "check-$i" --mode check --url "http://$ADM/v1/check" --path /api/v1/data --identity api-key --pick uniform
    run "gateway-$i" --url "http://$PUB/api/v1/data" --identity api-key --pick uniform
done
