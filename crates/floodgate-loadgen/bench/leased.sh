#!/usr/bin/env bash
# Leased quota (`sync: leased`) against exact decisions, and against
# Limitador's `redis_cached`, in one run on one redis-server this script
# starts on a free port. Four replicas of each system share the Redis; each
# replica is driven by a load generator of its own (closed loop, STREAMS
# each), 12,000 API keys picked zipf(1). Everything runs on this machine.
#
# A. The public-API design, over the decision API (`POST /v1/check`):
#    per API key free 100/h with bursts to 200 (token bucket; every key is
#    free), and a global limit of 50,000/s (token bucket), exact then
#    leased (per key: 60 s leases; global: 100 ms leases). Decisions/s,
#    Redis CPU per decision (the redis-server process, from /proc, and the
#    commands' own time from INFO commandstats), Redis CPU as a share of
#    one core, Redis calls per decision, the replicas' CPU per decision,
#    and the share admitted; then the global limit alone, exact and
#    leased, at GLOBAL_RATE decisions/s (open loop, below the limit).
# B. Envoy's ShouldRateLimit (gRPC), a fixed window of 40 per 4 s per key
#    (Limitador has no token bucket): Floodgate exact, Floodgate leased
#    (1 s leases) and, with LIMITADOR=<path to limitador-server>,
#    Limitador `redis_cached` (flush every 1 s, its default). The zipf load,
#    then one hot key driven by all four generators: admitted against the
#    exact maximum (40 per window the run touched).
#
# Each zipf run is measured after WARM seconds of the same load (keys and
# slices warm), section A's after WARM_A seconds (most of its 60 s lease:
# every replica has met most keys, the steady state; WARM_A=10 shows the
# start, while replicas still take each key's first slice). Systems
# alternate within each round, ROUNDS rounds.
#
#   crates/floodgate-loadgen/bench/leased.sh
#   SKIP_BUILD=1 ROUNDS=2 SECS=8 WARM_A=45 LIMITADOR=/path/to/limitador-server \
#       crates/floodgate-loadgen/bench/leased.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
    echo "needs redis-server and redis-cli" >&2
    exit 1
}
OUT=${OUT:-target/bench-leased}
SECS=${SECS:-8}
WARM=${WARM:-8}             # the zipf load before each measured run
WARM_A=${WARM_A:-45}        # the same, for section A's zipf runs
ROUNDS=${ROUNDS:-2}
STREAMS=${STREAMS:-16}
LIMITADOR=${LIMITADOR:-}
SECTIONS=${SECTIONS:-AB}    # which sections to run
GLOBAL_RATE=${GLOBAL_RATE:-16000} # decisions/s of the global-limit runs
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/*.yaml

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p floodgate-server -p floodgate-loadgen
B=target/release
LG="$B/floodgate-loadgen --threads 1"

# shellcheck source=lib.sh
source crates/floodgate-loadgen/bench/lib.sh

free_port RP
redis-server --port "$RP" --save "" --appendonly no --loglevel warning >"$OUT/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
RPID=$(redis-cli -p "$RP" info server | awk -F: '/^process_id/ {print $2}' | tr -d '\r')
hz=$(getconf CLK_TCK)
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# Decision calls the replicas sent to Redis (floodgate only).
store_calls() {
    local t=0 adm grpc v
    for x in "${targets[@]}"; do
        read -r adm grpc <<<"$x"
        v=$(curl -fs "http://$adm/metrics" 2>/dev/null | awk '/^floodgate_store_calls_total / {print $2}')
        t=$((t + ${v:-0}))
    done
    echo "$t"
}
# The leased counters of every replica, summed, as JSON (floodgate only).
leased_counts() {
    local adm grpc
    for x in "${targets[@]}"; do
        read -r adm grpc <<<"$x"
        curl -fs "http://$adm/metrics" 2>/dev/null || true
    done | python3 -c '
import json, re, sys
c = {}
for line in sys.stdin:
    m = re.match(r"floodgate_leased_(calls_total|decisions_total|waits_total|slices_taken_total)(\{[^}]*\})? (\d+)", line)
    if m:
        k = m.group(1) + (m.group(2) or "")
        c[k] = c.get(k, 0) + int(m.group(3))
print(json.dumps(c))'
}
cmd_usec() { redis-cli -p "$RP" info commandstats | awk -F'usec=' '/^cmdstat_/ {split($2, a, ","); s += a[1]} END {print s + 0}'; }
field() { python3 -c "import json,sys; print(sum(eval(sys.argv[1], {}, {'d': json.load(open(f))}) for f in sys.argv[2:]))" "$@"; }

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "redis: $(redis-server --version | cut -d' ' -f3)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "4 replicas, 4 generators x $STREAMS streams, ${SECS}s per run, $ROUNDS rounds"
} | tee "$OUT/summary.md"

classic() { # $1: per-key sync, $2: global sync
    cat <<YAML
log: { level: warn }
threads: 1
tiers: [free, pro, enterprise]
default_tier: free
rules:
  - name: per-key
    key: api_key
    sync: $1
    tiers:
      free: [ { algorithm: token_bucket, capacity: 100, refill: 100/3600s, burst_capacity: 2x } ]
      pro: [ { algorithm: token_bucket, capacity: 1000, refill: 1000/3600s, burst_capacity: 2x } ]
      enterprise: [ { algorithm: token_bucket, capacity: 10000, refill: 10000/3600s, burst_capacity: 2x } ]
global:
  - { algorithm: token_bucket, capacity: 50000, refill: 50000/s, sync: $2 }
store: { kind: redis, url: "redis://127.0.0.1:$RP", timeout: 1s }
YAML
}

global_only() { # $1: sync
    cat <<YAML
log: { level: warn }
threads: 1
global:
  - { algorithm: token_bucket, capacity: 50000, refill: 50000/s, sync: $1 }
store: { kind: redis, url: "redis://127.0.0.1:$RP", timeout: 1s }
YAML
}

window() { # $1: sync
    cat <<YAML
log: { level: warn }
threads: 1
rules:
  - name: per-key
    match: { domain: edge, descriptors: [ { key: api_key } ] }
    sync: $1
    limits: [ { algorithm: fixed_window, limit: 40, window: 4s } ]
store: { kind: redis, url: "redis://127.0.0.1:$RP", timeout: 1s }
YAML
}

servers=()
targets=()
start_floodgate() { # $1: label, stdin: the config without listeners
    local body i pub adm grpc
    body=$(cat)
    servers=()
    targets=()
    for i in 1 2 3 4; do
        free_port pub
        free_port adm
        free_port grpc
        { echo "listen: 127.0.0.1:$pub"; echo "admin: { listen: 127.0.0.1:$adm }"
          echo "grpc: { listen: 127.0.0.1:$grpc }"; echo "$body"; } >"$OUT/$1-$i.yaml"
        $B/floodgate serve --watch off --config "$OUT/$1-$i.yaml" >"$OUT/$1-$i.log" 2>&1 &
        servers+=($!)
        pids+=($!)
        wait_up "http://127.0.0.1:$adm/healthz"
        targets+=("127.0.0.1:$adm 127.0.0.1:$grpc")
    done
}

start_limitador() {
    local i http rls
    cat >"$OUT/limitador.yaml" <<YAML
- namespace: edge
  max_value: 40
  seconds: 4
  conditions: []
  variables: ["descriptors[0]['api_key']"]
YAML
    servers=()
    targets=()
    for i in 1 2 3 4; do
        free_port http
        free_port rls
        "$LIMITADOR" --rls-ip 127.0.0.1 --rls-port "$rls" --http-ip 127.0.0.1 --http-port "$http" \
            "$OUT/limitador.yaml" redis_cached "redis://127.0.0.1:$RP" >"$OUT/limitador-$i.log" 2>&1 &
        servers+=($!)
        pids+=($!)
        wait_up "http://127.0.0.1:$http/status"
        targets+=("127.0.0.1:$http 127.0.0.1:$rls")
    done
}

stop_servers() {
    local p
    for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${servers[@]}"; do wait "$p" 2>/dev/null || true; done
    redis-cli -p "$RP" flushall >/dev/null
}

# Runs the 4 generators (one per replica) for $3 seconds, seeds from $4,
# with loadgen arguments after $5; saves each report as $2-<i>.json unless
# $2 is empty. $1: kind (check|grpc).
generators() {
    local kind=$1 save=$2 secs=$3 seed=$4 i gens=() out=()
    shift 4
    for i in 0 1 2 3; do
        read -r adm grpc <<<"${targets[$i]}"
        case $kind in
            check) url="http://$adm/v1/check"; extra=(--mode check --path /api/v1/data) ;;
            grpc) url="http://$grpc"; extra=(--mode grpc --domain edge --connections 1) ;;
        esac
        out=()
        [ -n "$save" ] && out=(--save "$save-$i.json")
        $LG run --url "$url" "${extra[@]}" --identity api-key "${loop[@]}" \
            --duration "${secs}s" --seed $((i + seed)) "$@" --json "${out[@]}" >/dev/null &
        gens+=($!)
    done
    for g in "${gens[@]}"; do wait "$g"; done
}

# Measures one run of the generators (after `warm` seconds of the same
# load, when set); prints a table row.
measure() { # $1: label, $2: kind (check|grpc), then loadgen arguments
    local label=$1 kind=$2 t0 s0 c0 t1 s1 c1 files loop=(--closed-loop "$STREAMS")
    shift 2
    [[ " $* " == *" --rate "* ]] && loop=()
    [ "${warm:-0}" -gt 0 ] && generators "$kind" "" "$warm" 11 "$@"
    redis-cli -p "$RP" config resetstat >/dev/null
    t0=$(ticks "$RPID"); s0=$(ticks "${servers[@]}"); c0=$(cmd_usec); k0=$(store_calls); l0=$(leased_counts)
    generators "$kind" "$OUT/$label" "$SECS" 1 "$@"
    t1=$(ticks "$RPID"); s1=$(ticks "${servers[@]}"); c1=$(cmd_usec); k1=$(store_calls); l1=$(leased_counts)
    redis-cli -p "$RP" info commandstats >"$OUT/$label-commandstats.txt"
    files=("$OUT/$label"-{0,1,2,3}.json)
    local n ok rps
    n=$(field "d['counts']['sent']" "${files[@]}")
    ok=$(field "d['counts']['ok_200']" "${files[@]}")
    rps=$(field "d['throughput_rps']" "${files[@]}")
    python3 - "$label" "$n" "$ok" "$rps" "$((t1 - t0))" "$((s1 - s0))" "$((c1 - c0))" "$hz" "$SECS" "$((k1 - k0))" <<'PY' | tee -a "$OUT/summary.md"
import sys
label, n, ok, rps, rt, st, cu, hz, secs, calls = sys.argv[1], *map(float, sys.argv[2:])
n = max(n, 1)
per_call = f"{calls / n:.3f}" if calls > 0 else "–"
print(f"| {label} | {rps:,.0f} | {rt / hz * 1e6 / n:.2f} | {cu / n:.2f} | {rt / hz / secs:.1%} | {per_call} | {st / hz * 1e6 / n:.1f} | {ok / n:.1%} | {ok:,.0f} |")
PY
    # Where a leased run's calls went, per 1,000 decisions.
    python3 - "$n" "$l0" "$l1" <<'PY' | tee -a "$OUT/summary.md"
import json, sys
n, a, b = float(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
d = {k: b.get(k, 0) - a.get(k, 0) for k in b}
g = lambda k: d.get(k, 0) * 1000 / max(n, 1)
take, back = g('calls_total{call="take"}'), g('calls_total{call="give_back"}')
renew = g('calls_total{call="renew"}')
on_store = g('decisions_total{where="store"}')
if any(d.values()):
    print(f"|   per 1,000 decisions: {take:.1f} take calls, {renew:.1f} renew calls, {back:.1f} give-back calls, "
          f"{g('slices_taken_total'):.1f} slices, {g('waits_total'):.1f} waits, "
          f"{on_store:.1f} decided on Redis ||||||||")
PY
}

header() {
    echo | tee -a "$OUT/summary.md"
    echo "$1" | tee -a "$OUT/summary.md"
    echo | tee -a "$OUT/summary.md"
    echo "| run | decisions/s | Redis CPU µs/decision | Redis commands µs/decision | Redis CPU (share of a core) | Redis calls/decision | replicas' CPU µs/decision | admitted | admitted (count) |" | tee -a "$OUT/summary.md"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|" | tee -a "$OUT/summary.md"
}

zipf=(--clients 12000 --pick zipf --zipf 1.0)
hot=(--clients 1 --pick uniform)

[[ $SECTIONS == *A* ]] && header "A. public-API design, POST /v1/check, zipf over 12,000 keys"
for r in $(seq "$ROUNDS"); do
    [[ $SECTIONS == *A* ]] || break
    start_floodgate exact < <(classic exact exact)
    warm=$WARM_A measure "exact-$r" check "${zipf[@]}"
    stop_servers
    start_floodgate leased < <(classic "{ mode: leased, lease: 60s, max_share: 25% }" "{ mode: leased, lease: 100ms, max_share: 25% }")
    warm=$WARM_A measure "leased-$r" check "${zipf[@]}"
    stop_servers
    # The global limit alone, served below it: open loop, GLOBAL_RATE
    # decisions/s in all (every request counts against it).
    start_floodgate global-exact < <(global_only exact)
    warm=$WARM measure "global-exact-$r" check "${zipf[@]}" --rate $((GLOBAL_RATE / 4))
    stop_servers
    start_floodgate global-leased < <(global_only "{ mode: leased, lease: 100ms, max_share: 25% }")
    warm=$WARM measure "global-leased-$r" check "${zipf[@]}" --rate $((GLOBAL_RATE / 4))
    stop_servers
done

[[ $SECTIONS == *B* ]] && header "B. ShouldRateLimit, fixed window 40 per 4 s per key: zipf over 12,000 keys, then one hot key"
for r in $(seq "$ROUNDS"); do
    [[ $SECTIONS == *B* ]] || break
    systems=(exact leased)
    [ -n "$LIMITADOR" ] && systems+=(limitador)
    for sys in "${systems[@]}"; do
        case $sys in
            exact) start_floodgate w-exact < <(window exact) ;;
            leased) start_floodgate w-leased < <(window leased) ;;
            limitador) start_limitador ;;
        esac
        warm=$WARM measure "$sys-zipf-$r" grpc "${zipf[@]}"
        sleep 4.1 # a fresh window for the hot key
        from=$(date +%s.%N)
        measure "$sys-hot-$r" grpc "${hot[@]}" --key-prefix hot-
        to=$(date +%s.%N)
        sleep 1.5 # redis_cached flushes every second
        python3 - "$from" "$to" "$OUT" "$sys-hot-$r" <<'PY' | tee -a "$OUT/summary.md"
import json, math, sys
f, t, out, label = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
windows = math.floor(t / 4) - math.floor(f / 4) + 1
ok = sum(json.load(open(f"{out}/{label}-{i}.json"))["counts"]["ok_200"] for i in range(4))
print(f"|   {label}: the hot key's exact maximum over {windows} windows is {40 * windows}; admitted {ok}, over by {max(0, ok - 40 * windows)} ||||||||")
PY
        stop_servers
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.md"
