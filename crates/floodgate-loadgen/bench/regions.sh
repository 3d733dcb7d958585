#!/usr/bin/env bash
# One limit across three regions, counted the three ways Floodgate offers
# (docs/regions.md), on the same load, side by side: the latency of each
# request and what was admitted worldwide against the limit.
#
# Topology (as deploy/regions.sh, on this machine): one global redis-server,
# one redis-server per region (us, eu, asia), per region a
# floodgate-delay-proxy in front of the global Redis (GLOBAL_DELAY each way,
# so a round trip to the global store costs twice that) and two replicas
# (FLOODGATE_REGION, weights us 40%, eu 40%, asia 20%, global_store through
# the region's proxy, local_divisor 2), forwarding admitted requests to a
# `floodgate-loadgen upstream`. One config, three rules by path, each by API
# key, fixed window of LIMIT per SECS seconds:
#   /exact        scope: global, sync: exact  (every decision on the global store)
#   /partitioned  scope: region_weighted      (the limit split 40/40/20)
#   /shared       scope: global               (leased slices: global -> region pool -> replica)
#
# Load: KEYS API keys (uniform), one open-loop generator per replica at half
# its region's rate. Scenario `all`: the keys are active in all three
# regions at once at RATES (us eu asia, requests/s); scenario `asia`: only
# asia, at its rate in RATES. Each run starts 0.3 s after a window boundary
# and lasts two windows minus 0.5 s, so at most KEYS x LIMIT x 2 can be
# admitted (the windows each run touched are counted, in case it spills).
# Options alternate within each round (the order rotates), ROUNDS rounds.
# Latency is from each request's scheduled send (open loop); the highest of
# the generators' percentiles is shown (the reports cannot be merged).
#
#   crates/floodgate-loadgen/bench/regions.sh
#   SKIP_BUILD=1 ROUNDS=3 SECS=10 LIMIT=60 KEYS=50 RATES="100 100 400" \
#       GLOBAL_DELAY=40ms crates/floodgate-loadgen/bench/regions.sh
#   GLOBAL_STORE_EXTRA="gather_in_flight: 16" SCENARIOS=all OPTIONS=exact ...
#       (fields added to every replica's global_store)
# Under each row: latency by region, the global store's calls, and any
# store errors or fallback decisions (STORE_TIMEOUT, the region stores'
# timeout, is the default 50ms: a stall past it decides on local memory).
#
# Needs redis-server, redis-cli, curl and python3. Reports (loadgen JSON,
# one per generator and run), configs, logs and summary.md go to OUT
# (default target/bench-regions).
set -euo pipefail
cd "$(dirname "$0")/../../.."
for tool in redis-server redis-cli curl python3; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 1; }
done
OUT=${OUT:-target/bench-regions}
SECS=${SECS:-10}                 # the window, seconds
LIMIT=${LIMIT:-60}               # per key and window, worldwide
KEYS=${KEYS:-50}
ROUNDS=${ROUNDS:-2}
RATES=${RATES:-100 100 400}      # us eu asia, requests/s in all
SCENARIOS=${SCENARIOS:-all asia}
OPTIONS=${OPTIONS:-exact partitioned shared}
GLOBAL_DELAY=${GLOBAL_DELAY:-40ms}
GLOBAL_TIMEOUT=${GLOBAL_TIMEOUT:-1s}
STORE_TIMEOUT=${STORE_TIMEOUT:-50ms}     # the region stores' (the default)
GLOBAL_STORE_EXTRA=${GLOBAL_STORE_EXTRA:-} # more global_store fields, e.g. "gather_max: 1"
read -r -a rates <<<"$RATES"
read -r -a options <<<"$OPTIONS"
regions=(us eu asia)
((${#rates[@]} == 3)) || { echo "RATES needs three rates: us eu asia" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/*.yaml "$OUT"/*.txt "$OUT"/summary.md

[ "${SKIP_BUILD:-0}" = 1 ] ||
    cargo build --release -q -p floodgate-server -p floodgate-loadgen -p floodgate-testkit
B=target/release
for b in floodgate floodgate-loadgen floodgate-delay-proxy; do
    [ -x "$B/$b" ] || { echo "no $B/$b: build without SKIP_BUILD=1" >&2; exit 1; }
done
LG="$B/floodgate-loadgen --threads 1"

# shellcheck source-path=SCRIPTDIR source=lib.sh
source crates/floodgate-loadgen/bench/lib.sh

wait_redis() {
    for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "redis on $1 did not come up" >&2
    exit 1
}

port='' aport='' GP='' UP='' # set by free_port (not p: its local)
# The global Redis, then per region its Redis and its proxy to the global one.
free_port GP
redis-server --port "$GP" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning \
    >"$OUT/redis-global.log" 2>&1 &
pids+=($!)
wait_redis "$GP"
rport=()
pport=()
for r in 0 1 2; do
    free_port port
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning \
        >"$OUT/redis-${regions[$r]}.log" 2>&1 &
    pids+=($!)
    wait_redis "$port"
    rport+=("$port")
    free_port port
    $B/floodgate-delay-proxy --listen "127.0.0.1:$port" --target "127.0.0.1:$GP" \
        --delay "$GLOBAL_DELAY" >"$OUT/proxy-${regions[$r]}.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do grep -q '^listening on' "$OUT/proxy-${regions[$r]}.log" && break; sleep 0.1; done
    pport+=("$port")
done

free_port UP
$LG upstream --listen "127.0.0.1:$UP" >"$OUT/upstream.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$UP/"

# Six replicas: us-1 us-2 eu-1 eu-2 asia-1 asia-2.
pub=()
adm=()
names=()
for i in 0 1 2 3 4 5; do
    r=$((i / 2))
    name="${regions[$r]}-$((i % 2 + 1))"
    free_port port
    free_port aport
    cat >"$OUT/$name.yaml" <<YAML
listen: 127.0.0.1:$port
admin: { listen: 127.0.0.1:$aport }
log: { level: warn }
threads: 1
upstream: http://127.0.0.1:$UP
overload: { enabled: false }
region: { regions: { us: 40%, eu: 40%, asia: 20% } }
store: { kind: redis, url: "redis://127.0.0.1:${rport[$r]}", timeout: $STORE_TIMEOUT }
global_store: { kind: redis, url: "redis://127.0.0.1:${pport[$r]}", timeout: $GLOBAL_TIMEOUT,
  local_divisor: 2${GLOBAL_STORE_EXTRA:+, $GLOBAL_STORE_EXTRA} }
rules:
  - name: exact
    match: { path: /exact }
    key: api_key
    scope: global
    sync: exact
    limits: [{ algorithm: fixed_window, limit: $LIMIT, window: ${SECS}s }]
  - name: partitioned
    match: { path: /partitioned }
    key: api_key
    scope: region_weighted
    limits: [{ algorithm: fixed_window, limit: $LIMIT, window: ${SECS}s }]
  - name: shared
    match: { path: /shared }
    key: api_key
    scope: global
    limits: [{ algorithm: fixed_window, limit: $LIMIT, window: ${SECS}s }]
YAML
    FLOODGATE_REGION=${regions[$r]} $B/floodgate check-config "$OUT/$name.yaml" >"$OUT/check-$name.txt"
    FLOODGATE_REGION=${regions[$r]} $B/floodgate serve --watch off --config "$OUT/$name.yaml" \
        >"$OUT/$name.log" 2>&1 &
    pids+=($!)
    pub+=("$port")
    adm+=("$aport")
    names+=("$name")
done
for a in "${adm[@]}"; do wait_up "http://127.0.0.1:$a/readyz"; done

# The global-store, region-pool and region-store failure counters of every
# replica, summed.
counters() {
    for a in "${adm[@]}"; do curl -fs "http://127.0.0.1:$a/metrics" || true; done |
        awk '/^floodgate_(global_[a-z_]*total|region_pool_[a-z_]*total|global_store_latency_seconds_(sum|count)|store_errors_total|degraded_decisions_total)/ {s[$1] += $2} END {for (k in s) print k, s[k]}' | sort
}

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "redis: $(redis-server --version | cut -d' ' -f3)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?'), files changed since: $(git status --porcelain -uno 2>/dev/null | wc -l)"
    echo "binaries built: $(date -u -r $B/floodgate +%FT%TZ)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "$KEYS keys, fixed window $LIMIT per ${SECS}s per key, global store $GLOBAL_DELAY each way, region store timeout $STORE_TIMEOUT,"
    echo "rates us/eu/asia ${rates[*]} requests/s, $ROUNDS rounds${GLOBAL_STORE_EXTRA:+, global_store: $GLOBAL_STORE_EXTRA}"
} | tee "$OUT/summary.md"

# One run: waits for a window boundary + 0.3 s, drives each replica of an
# active region at half its region's rate on path /$2 for two windows
# minus 0.5 s, then prints a table row. $1: scenario, $2: option, $3: round.
run() {
    local scen=$1 opt=$2 round=$3 label="$1-$2-$3" i rate gens=() from to
    counters >"$OUT/$label-counters-before.txt"
    python3 -c "import time; w = $SECS; time.sleep(w - time.time() % w + 0.3)"
    from=$(date +%s.%N)
    for i in 0 1 2 3 4 5; do
        rate=$((${rates[$((i / 2))]} / 2))
        [ "$scen" = asia ] && [ "$i" -lt 4 ] && rate=0
        [ "$rate" -gt 0 ] || continue
        $LG run --url "http://127.0.0.1:${pub[$i]}/$opt" --identity api-key \
            --clients "$KEYS" --pick uniform --key-prefix "k$round$scen-" \
            --rate "$rate" --duration "$((2 * SECS * 1000 - 500))ms" --seed $((i + 10 * round)) \
            --timeout 5s --json --save "$OUT/$label-${names[$i]}.json" >/dev/null 2>"$OUT/$label-${names[$i]}.log" &
        gens+=($!)
    done
    for g in "${gens[@]}"; do wait "$g"; done
    to=$(date +%s.%N)
    sleep 0.3 # the background renewals and give-backs settle
    counters >"$OUT/$label-counters-after.txt"
    python3 - "$OUT" "$label" "$from" "$to" "$KEYS" "$LIMIT" "$SECS" <<'PY' | tee -a "$OUT/summary.md"
import glob, json, math, sys
out, label, f, t, keys, limit, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), *map(int, sys.argv[5:])
windows = math.floor(t / secs) - math.floor(f / secs) + 1
most = keys * limit * windows
reps = {p[len(out) + len(label) + 2:-5]: json.load(open(p)) for p in glob.glob(f"{out}/{label}-*-[12].json")}
ok = {r: 0 for r in ("us", "eu", "asia")}
err = 0
for name, d in reps.items():
    ok[name.split("-")[0]] += d["counts"]["ok_200"]
    err += d["counts"]["other_status"] + d["counts"]["errors"]
lat = lambda q: max(d["latency_from_schedule_ms"][q] for d in reps.values())
total = sum(ok.values())
_, opt, rnd = label.rsplit("-", 2)
print(f"| {opt} | {rnd} | {total:,} | {most:,} | {total / most:.1%} | {ok['us']:,} / {ok['eu']:,} / {ok['asia']:,} "
      f"| {lat('p50'):.2f} | {lat('p99'):.2f} | {lat('p999'):.2f} | {err} |")
before = dict(l.split() for l in open(f"{out}/{label}-counters-before.txt"))
after = dict(l.split() for l in open(f"{out}/{label}-counters-after.txt"))
delta = {k: float(v) - float(before.get(k, 0)) for k, v in after.items()}
json.dump(delta, open(f"{out}/{label}-counters.json", "w"), indent=1)
by, denied = [], []
for r in ("us", "eu", "asia"):
    ds = [d for n, d in reps.items() if n.startswith(r + "-")]
    hi = lambda q, k="latency_from_schedule_ms": max(d[k][q] for d in ds)
    if ds:
        by.append(f"{r} {hi('p50'):.1f} / {hi('p90'):.1f} / {hi('p99'):.1f}")
        denied.append(f"{r} {max(d['latency_by_status_ms'].get('429', {}).get('p50', 0) for d in ds):.1f}")
g = lambda w: int(delta.get('floodgate_global_decisions_total{where="%s"}' % w, 0))
n = delta.get("floodgate_global_store_latency_seconds_count", 0)
note = f"by region p50 / p90 / p99 ms: {', '.join(by)}; p50 of the 429s: {', '.join(denied)}; global store calls {n:,.0f}"
if n:
    note += f", mean {delta['floodgate_global_store_latency_seconds_sum'] / n * 1000:.1f} ms (as the replicas time them)"
if g("store") or g("local"):
    note += f"; leased decisions from slices {g('local'):,}, on the store {g('store'):,}"
bad = {k: v for k, v in delta.items() if v and any(w in k for w in ("error", "fallback", "degraded"))}
note += "".join(f"; {k} {v:g}" for k, v in sorted(bad.items()))
print(f"|   {note} |||||||||")
PY
}

for scen in $SCENARIOS; do
    case $scen in
        all) what="keys active in all three regions at once: us ${rates[0]}/s, eu ${rates[1]}/s, asia ${rates[2]}/s" ;;
        asia) what="keys active in asia only: ${rates[2]}/s" ;;
        *) echo "unknown scenario $scen" >&2; exit 1 ;;
    esac
    {
        echo
        echo "Scenario $scen: $KEYS $what; latency ms from the schedule, the highest of the generators"
        echo
        echo "| option | round | admitted | exact maximum | admitted/max | admitted us / eu / asia | p50 | p99 | p99.9 | errors |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    } | tee -a "$OUT/summary.md"
    for round in $(seq "$ROUNDS"); do
        n=${#options[@]}
        for k in $(seq 0 $((n - 1))); do
            run "$scen" "${options[$(((k + round - 1) % n))]}" "$round"
        done
    done
done
echo | tee -a "$OUT/summary.md"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.md"
