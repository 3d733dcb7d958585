#!/usr/bin/env bash
# Floodgate against Limitador (Kuadrant), side by side in one run on this
# machine: one server of each, the same load generator against both
# (closed loop, STREAMS in flight, 12,000 API keys picked uniformly), a
# fixed window of 40 per 4 s per key (Limitador has no token bucket).
#
#   1. decision API over HTTP, memory store: Floodgate `POST /v1/check`
#      against Limitador `POST /check_and_report`;
#   2. Envoy's `ShouldRateLimit` (gRPC), memory store;
#   3. `ShouldRateLimit` on a real Redis (a redis-server this script starts
#      on a free port): Floodgate (exact; as configured by default, and
#      with the earlier defaults `connections: 2, gather_in_flight: 2`,
#      rows `redis-c2`) against Limitador `redis` and `redis_cached`;
#   4. a hot key on Redis: 2,000 requests at 64 at once against a limit of
#      80 (a fresh key each trial, TRIALS trials): what each admitted.
#
# Per run: decisions/s, the server's CPU µs per decision and the
# redis-server's (from /proc), and the p99 latency. Systems alternate
# within each round (the first swapping each round), ROUNDS rounds; the
# summary gives Floodgate/Limitador ratios per round.
#
# Limitador: LIMITADOR=<a limitador-server binary> (default
# ~/.cache/floodgate-peers/limitador-server), or LIMITADOR_SRC=<a checkout
# of github.com/Kuadrant/limitador>, built here with `cargo build --release
# -p limitador-server` (needs protobuf-compiler and clang; about 20 minutes
# on 2 cores, once).
#
#   crates/floodgate-loadgen/bench/peers.sh
#   SKIP_BUILD=1 ROUNDS=3 SECS=8 crates/floodgate-loadgen/bench/peers.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
for c in redis-server redis-cli python3; do
    command -v "$c" >/dev/null || { echo "needs $c" >&2; exit 1; }
done
OUT=${OUT:-target/bench-peers}
SECS=${SECS:-8}
ROUNDS=${ROUNDS:-3}
STREAMS=${STREAMS:-64}
TRIALS=${TRIALS:-3}
SECTIONS=${SECTIONS:-1234}   # which sections to run
LIMITADOR=${LIMITADOR:-$HOME/.cache/floodgate-peers/limitador-server}
if [ ! -x "$LIMITADOR" ]; then
    if [ -n "${LIMITADOR_SRC:-}" ]; then
        (cd "$LIMITADOR_SRC" && cargo build --release -p limitador-server)
        LIMITADOR=$LIMITADOR_SRC/target/release/limitador-server
    else
        echo "needs Limitador: LIMITADOR=<limitador-server> or LIMITADOR_SRC=<a Kuadrant/limitador checkout>" >&2
        exit 1
    fi
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.log "$OUT"/*.yaml "$OUT"/summary.md "$OUT"/runs.tsv

[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p floodgate-server -p floodgate-loadgen
B=target/release
LG="$B/floodgate-loadgen --threads 1"

# shellcheck source=lib.sh
source crates/floodgate-loadgen/bench/lib.sh

free_port RP
redis-server --bind 127.0.0.1 --port "$RP" --save "" --appendonly no --loglevel warning >"$OUT/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
RPID=$(redis-cli -p "$RP" info server | awk -F: '/^process_id/ {print $2}' | tr -d '\r')
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "redis: $(redis-server --version | cut -d' ' -f3)"
    echo "limitador: $("$LIMITADOR" --version 2>/dev/null | head -1)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "one server each, $STREAMS in flight, ${SECS}s per run, $ROUNDS rounds"
} | tee "$OUT/summary.md"

# The limit, in each system's words.
cat >"$OUT/limitador.yaml" <<YAML
- namespace: edge
  max_value: 40
  seconds: 4
  conditions: []
  variables: ["descriptors[0]['api_key']"]
YAML
cat >"$OUT/limitador-hot.yaml" <<YAML
- namespace: edge
  max_value: 80
  seconds: 60
  conditions: []
  variables: ["descriptors[0]['api_key']"]
YAML

floodgate_yaml() { # $1: memory|redis, $2: limit, $3: window
    cat <<YAML
log: { level: warn }
rules:
  - name: per-descriptor
    match: { domain: edge, descriptors: [ { key: api_key } ] }
    limits: [ { algorithm: fixed_window, limit: $2, window: $3 } ]
  - name: per-key
    match: { path: /api/v1/data }
    key: api_key
    limits: [ { algorithm: fixed_window, limit: $2, window: $3 } ]
YAML
    if [ "$1" = redis ]; then
        echo "store: { kind: redis, url: \"redis://127.0.0.1:$RP\" }"
    elif [ "$1" = redis-c2 ]; then
        echo "store: { kind: redis, url: \"redis://127.0.0.1:$RP\", connections: 2, gather_in_flight: 2 }"
    else
        echo "store: { kind: memory, max_keys: 2000000 }"
    fi
}

SERVER=
HTTP_URL=
GRPC_URL=
start() { # $1: system (floodgate|limitador), $2: storage, $3: limit, $4: window
    local pub adm grpc http rls
    case $1 in
        floodgate)
            free_port pub
            free_port adm
            free_port grpc
            { echo "listen: 127.0.0.1:$pub"; echo "admin: { listen: 127.0.0.1:$adm }"
              echo "grpc: { listen: 127.0.0.1:$grpc }"; floodgate_yaml "$2" "$3" "$4"; } >"$OUT/floodgate-$2.yaml"
            $B/floodgate serve --watch off --config "$OUT/floodgate-$2.yaml" >>"$OUT/floodgate-$2.log" 2>&1 &
            SERVER=$!
            wait_up "http://127.0.0.1:$adm/readyz"
            HTTP_URL="http://127.0.0.1:$adm/v1/check"
            GRPC_URL="http://127.0.0.1:$grpc"
            ;;
        limitador)
            free_port http
            free_port rls
            local limits=$OUT/limitador.yaml storage=("$2")
            [ "$3" = 80 ] && limits=$OUT/limitador-hot.yaml
            [ "$2" = memory ] || storage+=("redis://127.0.0.1:$RP")
            "$LIMITADOR" --rls-ip 127.0.0.1 --rls-port "$rls" --http-ip 127.0.0.1 --http-port "$http" \
                "$limits" "${storage[@]}" >>"$OUT/limitador-$2.log" 2>&1 &
            SERVER=$!
            wait_up "http://127.0.0.1:$http/status"
            HTTP_URL="http://127.0.0.1:$http/check_and_report"
            GRPC_URL="http://127.0.0.1:$rls"
            ;;
    esac
    pids+=("$SERVER")
}

stop() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    redis-cli -p "$RP" flushall >/dev/null
}

# One measured run of the generator against the running server: $1 label,
# $2 lane (http|grpc), $3 system; prints a table row and saves the report.
measure() {
    local label=$1 lane=$2 sys=$3 mode url s0 r0
    case $lane/$sys in
        http/floodgate) mode=(--mode check --path /api/v1/data); url=$HTTP_URL ;;
        http/limitador) mode=(--mode limitador); url=$HTTP_URL ;;
        grpc/*) mode=(--mode grpc --connections 2); url=$GRPC_URL ;;
    esac
    s0=$(ticks "$SERVER"); r0=$(ticks "$RPID")
    $LG run --url "$url" "${mode[@]}" --domain edge --descriptor-key api_key --identity api-key \
        --clients 12000 --pick uniform --closed-loop "$STREAMS" --duration "${SECS}s" \
        --json --save "$OUT/$label.json" >/dev/null
    python3 - "$label" "$OUT/$label.json" "$(($(ticks "$SERVER") - s0))" "$(($(ticks "$RPID") - r0))" "$HZ" <<'PY' | tee -a "$OUT/summary.md"
import json, sys
label, path, st, rt, hz = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
d = json.load(open(path))
n = max(d["counts"]["sent"], 1)
c = d["counts"]
p99 = (d.get("latency_from_send_ms") or {}).get("p99", 0)
print(f"| {label} | {d['throughput_rps']:,.0f} | {st / hz * 1e6 / n:.1f} | {rt / hz * 1e6 / n:.2f} | {p99:.2f} | {c['ok_200'] / n:.1%} | {c['errors']} |")
# The figures again, for the ratios at the end.
with open(path.rsplit("/", 1)[0] + "/runs.tsv", "a") as f:
    f.write(f"{label}\t{d['throughput_rps']}\t{st / hz * 1e6 / n}\t{rt / hz * 1e6 / n}\t{p99}\n")
PY
}

header() {
    { echo; echo "$1"; echo
      echo "| run | decisions/s | server CPU µs/decision | Redis CPU µs/decision | p99 ms | allowed | errors |"
      echo "|---|---:|---:|---:|---:|---:|---:|"; } | tee -a "$OUT/summary.md"
}

# Runs lane $2 on storage $3 for each system of $4.. in turn, round $1.
runs() {
    local r=$1 lane=$2 storage=$3 sys
    shift 3
    for sys in "$@"; do
        local st=$storage
        case $sys in
            limitador-*) st=${sys#limitador-}; sys=limitador ;;
            floodgate-c2) st=redis-c2; sys=floodgate ;;
        esac
        start "$sys" "$st" 40 4s
        measure "$lane-$st-$sys-$r" "$lane" "$sys"
        stop
    done
}

order() { # round, systems...: the systems, the first moved last in even rounds
    local r=$1
    shift
    if ((r % 2)); then echo "$@"; else echo "${@:2}" "$1"; fi
}

if [[ $SECTIONS == *1* ]]; then
    header "1. decision API over HTTP, memory store"
    for r in $(seq "$ROUNDS"); do
        # shellcheck disable=SC2046
        runs "$r" http memory $(order "$r" floodgate limitador-memory)
    done
fi
if [[ $SECTIONS == *2* ]]; then
    header "2. Envoy ShouldRateLimit (gRPC), memory store"
    for r in $(seq "$ROUNDS"); do
        # shellcheck disable=SC2046
        runs "$r" grpc memory $(order "$r" floodgate limitador-memory)
    done
fi
if [[ $SECTIONS == *3* ]]; then
    header "3. Envoy ShouldRateLimit (gRPC), Redis"
    for r in $(seq "$ROUNDS"); do
        # shellcheck disable=SC2046
        runs "$r" grpc redis $(order "$r" floodgate floodgate-c2 limitador-redis limitador-redis_cached)
    done
fi

# A hot key: $TRIALS trials of 2,000 requests at 64 at once on one key
# (fresh each trial) against a limit of 80 per minute.
if [[ $SECTIONS == *4* ]]; then
    { echo; echo "4. one hot key on Redis: 2,000 requests at 64 at once, limit 80"; echo
      echo "| system | admitted, each trial |"; echo "|---|---|"; } | tee -a "$OUT/summary.md"
    for sys in floodgate limitador-redis limitador-redis_cached; do
        st=redis
        s=$sys
        case $sys in limitador-*) st=${sys#limitador-}; s=limitador ;; esac
        start "$s" "$st" 80 1m
        got=()
        for t in $(seq "$TRIALS"); do
            $LG run --url "$GRPC_URL" --mode grpc --connections 2 --domain edge --descriptor-key api_key \
                --identity api-key --clients 1 --key-prefix "hot-$t-" --closed-loop 64 --requests 2000 \
                --duration 60s --json --save "$OUT/hot-$sys-$t.json" >/dev/null
            sleep 1.5 # redis_cached flushes every second
            got+=("$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['counts']['ok_200'])" "$OUT/hot-$sys-$t.json")")
        done
        echo "| $sys | ${got[*]} |" | tee -a "$OUT/summary.md"
        stop
    done
fi
# Floodgate / Limitador within each round, against the targets.
[ -f "$OUT/runs.tsv" ] && python3 - "$OUT/runs.tsv" <<'PY' | tee -a "$OUT/summary.md"
import sys
runs = {}
for line in open(sys.argv[1]):
    label, rps, cpu, rcpu, p99 = line.rstrip("\n").split("\t")
    runs[label] = (float(rps), float(cpu), float(rcpu), float(p99))
rounds = sorted({int(l.rsplit("-", 1)[1]) for l in runs})
rows = [
    # what, target, Floodgate's run, Limitador's run, (figure, as ratio or pair)
    ("HTTP, memory: decisions/s", ">= 1.5x", "http-memory-floodgate", "http-memory-limitador", 0),
    ("gRPC, memory: decisions/s", ">= 1.5x", "grpc-memory-floodgate", "grpc-memory-limitador", 0),
    ("gRPC, memory: server CPU per decision", "<= 0.7x", "grpc-memory-floodgate", "grpc-memory-limitador", 1),
    ("gRPC, memory: p99 ms", "no worse", "grpc-memory-floodgate", "grpc-memory-limitador", 3),
    ("Redis CPU per exact decision vs `redis`", "<= 1x", "grpc-redis-floodgate", "grpc-redis-limitador", 2),
    ("same, earlier defaults (`connections: 2, gather_in_flight: 2`)", "", "grpc-redis-c2-floodgate", "grpc-redis-limitador", 2),
]
print()
print("Floodgate / Limitador within each round")
print()
print("| | target | " + " | ".join(f"round {r}" for r in rounds) + " |")
print("|---|---|" + "---:|" * len(rounds))
for what, target, fg, lim, i in rows:
    cells = []
    for r in rounds:
        a, b = runs.get(f"{fg}-{r}"), runs.get(f"{lim}-{r}")
        if not a or not b:
            cells.append("–")
        elif i == 3:
            cells.append(f"{a[i]:.2f} vs {b[i]:.2f}")
        else:
            cells.append(f"{a[i] / b[i]:.2f}x" if b[i] else "–")
    if any(c != "–" for c in cells):
        print(f"| {what} | {target} | " + " | ".join(cells) + " |")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.md"
