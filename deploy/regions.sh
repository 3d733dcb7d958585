#!/usr/bin/env bash
# Three regions on one machine: a global Redis every region shares, and per
# region (us, eu, asia) its own Redis, two Floodgate replicas, and a
# latency-adding proxy (floodgate-delay-proxy) between the replicas and the
# global Redis. Cutting a proxy partitions its region from the global store.
#
#   deploy/regions.sh          start everything, print the addresses, run
#                              until Ctrl-C (or until one process exits)
#   deploy/regions.sh smoke    start everything, check a region_weighted
#                              limit, a global limit from one region and
#                              from all, and a partition of us and its heal,
#                              then stop; exit 0 when all hold
#
# Rules: `per-region` (GET /resource, by API key, region_weighted: 1000 a
# minute worldwide, 40/40/20) and `worldwide` (GET /api/v1/data, by API key,
# global: 1000 a minute shared by all regions, leased slices). The smoke test
# uses a global limit of 200 and one-day windows (no window ends during it).
#
# Needs: redis-server, redis-cli, curl, python3, and the floodgate and
# floodgate-delay-proxy binaries (cargo build --release -p floodgate-server
# -p floodgate-testkit).
#
# Environment (all optional):
#   FLOODGATE_BIN          the floodgate binary (default: floodgate on PATH,
#                          else target/release/floodgate, else
#                          target/debug/floodgate)
#   DELAY_PROXY_BIN        the floodgate-delay-proxy binary (found the same way)
#   GLOBAL_DELAY           each proxy's delay, each way (default 40ms)
#   GLOBAL_TIMEOUT         the replicas' global store timeout (default 1s;
#                          keep it above twice GLOBAL_DELAY)
#   REDIS_PORTS            four Redis ports, space-separated: global, us, eu,
#                          asia (default: free ports)
#   PROXY_PORTS            three proxy ports: us, eu, asia (default: free ports)
#   FLOODGATE_PUBLIC_PORTS six public listener ports, space-separated, in the
#                          order us-1 us-2 eu-1 eu-2 asia-1 asia-2
#                          (default: free ports)
#   FLOODGATE_ADMIN_PORTS  six admin listener ports, same order (default:
#                          free ports)
#   DEADLINE               seconds to wait for anything to come up, or for a
#                          healed region to reach the global store (default 30)
#   KEEP_DIR               set to 1 to keep the working directory (configs,
#                          logs, cut files) on exit
set -euo pipefail

mode="${1:-run}"
case "$mode" in
run | smoke) ;;
*)
    echo "usage: $0 [run|smoke]" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
deadline="${DEADLINE:-30}"
delay="${GLOBAL_DELAY:-40ms}"
global_timeout="${GLOBAL_TIMEOUT:-1s}"
regions=(us eu asia)
weights=(40 40 20)

say() { echo "regions.sh: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

for tool in redis-server redis-cli curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done

# find_bin NAME VALUE: VALUE if set, else NAME on PATH, else in
# target/release, else in target/debug (empty when none is there).
find_bin() {
    if [ -n "$2" ]; then
        echo "$2"
    elif command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    elif [ -x "$root/target/release/$1" ]; then
        echo "$root/target/release/$1"
    elif [ -x "$root/target/debug/$1" ]; then
        echo "$root/target/debug/$1"
    fi
}
bin="$(find_bin floodgate "${FLOODGATE_BIN:-}")"
[ -n "$bin" ] || die "no floodgate binary: run 'cargo build --release -p floodgate-server' or set FLOODGATE_BIN"
[ -x "$bin" ] || die "FLOODGATE_BIN=$bin is not executable"
proxy_bin="$(find_bin floodgate-delay-proxy "${DELAY_PROXY_BIN:-}")"
[ -n "$proxy_bin" ] || die "no floodgate-delay-proxy binary: run 'cargo build --release -p floodgate-testkit --bin floodgate-delay-proxy' or set DELAY_PROXY_BIN"
[ -x "$proxy_bin" ] || die "DELAY_PROXY_BIN=$proxy_bin is not executable"

work="$(mktemp -d "${TMPDIR:-/tmp}/floodgate-regions.XXXXXX")"
pids=()
taken=" "
interrupted=0

# shellcheck disable=SC2317 # called by the traps
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    # Stop what this script started: SIGTERM, then SIGKILL after 10 s.
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    local end=$((SECONDS + 10))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ] && [ "$interrupted" = 0 ] && [ -d "$work" ]; then
        for log in "$work"/*.log; do
            [ -f "$log" ] || continue
            say "--- last lines of $(basename "$log")"
            tail -n 20 "$log" >&2 || true
        done
    fi
    if [ "${KEEP_DIR:-0}" = 1 ]; then
        say "kept $work"
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'interrupted=1; exit 130' INT
trap 'interrupted=1; exit 143' TERM

# A port nothing listens on now (and not handed out before), below the
# kernel's ephemeral range (32768 and up on Linux), where an outgoing
# connection could take it between this check and the bind. Sets $port
# (not printed: in a $(...) subshell, $taken would not be kept).
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        case "$taken" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            taken="$taken$p "
            port="$p"
            return 0
        fi
    done
    die "no free port found"
}

# free_ports N: sets $ports to N free ports, space-separated.
free_ports() {
    ports=""
    for _ in $(seq 1 "$1"); do
        free_port
        ports="$ports $port"
    done
}

# Polls `$@` until it succeeds, for at most $deadline seconds.
wait_for() {
    local what="$1"
    shift
    local end=$((SECONDS + deadline))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < end)) || die "$what did not come up within ${deadline}s"
        sleep 0.1
    done
}

free_ports 4
read -r -a redis_ports <<<"${REDIS_PORTS:-$ports}"
free_ports 3
read -r -a proxy_ports <<<"${PROXY_PORTS:-$ports}"
free_ports 6
read -r -a public_ports <<<"${FLOODGATE_PUBLIC_PORTS:-$ports}"
free_ports 6
read -r -a admin_ports <<<"${FLOODGATE_ADMIN_PORTS:-$ports}"
((${#redis_ports[@]} == 4)) || die "REDIS_PORTS needs four ports"
((${#proxy_ports[@]} == 3)) || die "PROXY_PORTS needs three ports"
((${#public_ports[@]} == 6)) || die "FLOODGATE_PUBLIC_PORTS needs six ports"
((${#admin_ports[@]} == 6)) || die "FLOODGATE_ADMIN_PORTS needs six ports"
global_port="${redis_ports[0]}"

# start_redis NAME PORT: an in-memory redis-server (no persistence).
start_redis() {
    redis-server --port "$2" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no \
        >"$work/redis-$1.log" 2>&1 &
    pids+=($!)
    wait_for "Redis $1 on port $2" redis-cli -p "$2" ping
}

# start_proxy REGION PORT: the region's proxy to the global Redis, cut
# while $work/cut-REGION exists.
start_proxy() {
    rm -f "$work/cut-$1"
    "$proxy_bin" --listen "127.0.0.1:$2" --target "127.0.0.1:$global_port" \
        --delay "$delay" --cut-file "$work/cut-$1" >"$work/proxy-$1.log" 2>&1 &
    pids+=($!)
    wait_for "the $1 proxy on port $2" grep -q '^listening on' "$work/proxy-$1.log"
}

# The limits: a minute's worth when run, a day's in the smoke test (so that
# no fixed window ends in the middle of a check), a smaller global limit
# there for speed.
weighted_limit=1000
global_limit=1000
denied_run=30 # a limit is reached when this many requests in a row are denied
window=1m
if [ "$mode" = smoke ]; then
    global_limit=200
    window=24h
fi

# write_config REGION REPLICA_INDEX REGION_INDEX: that replica's config file.
write_config() {
    local region="$1" i="$2" r="$3"
    cat >"$work/$region-$((i % 2 + 1)).yaml" <<EOF
listen: 127.0.0.1:${public_ports[$i]}
admin: { listen: 127.0.0.1:${admin_ports[$i]} }
log: { format: json }
region: { regions: { us: 40%, eu: 40%, asia: 20% } }
store: { kind: redis, url: "redis://127.0.0.1:${redis_ports[$((r + 1))]}" }
global_store:
  kind: redis
  url: "redis://127.0.0.1:${proxy_ports[$r]}"
  timeout: ${global_timeout}      # above the round trip through the proxy
  local_divisor: 2                # a partition splits the region's share over its 2 replicas
  breaker: { failures: 1, cooldown: 500ms }
rules:
  - name: per-region
    match: { path: /resource }
    key: api_key
    scope: region_weighted        # ${weighted_limit} worldwide, 40/40/20 by region
    limits: [{ algorithm: fixed_window, limit: ${weighted_limit}, window: ${window} }]
  - name: worldwide
    match: { path: /api/v1/data }
    key: api_key
    scope: global                 # one quota every region shares, leased slices
    limits: [{ algorithm: fixed_window, limit: ${global_limit}, window: ${window} }]
EOF
}

# start_replica REGION REPLICA_INDEX REGION_INDEX
start_replica() {
    local name
    name="$1-$(($2 % 2 + 1))"
    write_config "$@"
    FLOODGATE_REGION="$1" "$bin" check-config "$work/$name.yaml" >"$work/check-$name.txt" 2>&1 ||
        die "$bin check-config $name.yaml (a floodgate without regions? set FLOODGATE_BIN): $(cat "$work/check-$name.txt")"
    FLOODGATE_REGION="$1" "$bin" serve --watch off --config "$work/$name.yaml" \
        >"$work/floodgate-$name.log" 2>&1 &
    pids+=($!)
}

start_redis global "$global_port"
for r in 0 1 2; do
    start_redis "${regions[$r]}" "${redis_ports[$((r + 1))]}"
    start_proxy "${regions[$r]}" "${proxy_ports[$r]}"
done
for r in 0 1 2; do
    for i in $((2 * r)) $((2 * r + 1)); do
        start_replica "${regions[$r]}" "$i" "$r"
    done
done
for i in 0 1 2 3 4 5; do
    wait_for "floodgate ${regions[$((i / 2))]}-$((i % 2 + 1))" \
        curl -fsS "http://127.0.0.1:${admin_ports[$i]}/readyz"
done

# A client with keep-alive connections: GET PATH with x-api-key KEY, round
# robin over PORTS, COUNT requests or until STOP are denied in a row
# (STOP 0: all COUNT). Prints "admitted denied denied-in-a-row"; any
# status but 200 and 429 is an error.
cat >"$work/client.py" <<'EOF'
import http.client, sys

ports = [int(p) for p in sys.argv[1].split(",")]
path, key, count, stop = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
conns = {}

def get(port):
    reused = port in conns
    c = conns.setdefault(port, http.client.HTTPConnection("127.0.0.1", port, timeout=10))
    try:
        c.request("GET", path, headers={"x-api-key": key})
        r = c.getresponse()
        r.read()
        return r.status
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        conns.pop(port).close()
        if not reused:
            raise
        return get(port)  # the server closed an idle connection: once more

admitted = denied = in_a_row = 0
for n in range(count):
    port = ports[n % len(ports)]
    status = get(port)
    if status == 200:
        admitted, in_a_row = admitted + 1, 0
    elif status == 429:
        denied, in_a_row = denied + 1, in_a_row + 1
    else:
        sys.exit(f"127.0.0.1:{port}{path} answered {status}")
    if stop and in_a_row >= stop:
        break
print(admitted, denied, in_a_row)
EOF

# traffic PATH KEY COUNT STOP REPLICA_INDEX...: runs the client on those
# replicas; sets $admitted and $denied.
traffic() {
    local path="$1" key="$2" count="$3" stop="$4" ports="" out in_a_row
    shift 4
    for i in "$@"; do ports="${ports:+$ports,}${public_ports[$i]}"; done
    out="$(python3 "$work/client.py" "$ports" "$path" "$key" "$count" "$stop")" ||
        die "$path for $key: a request failed"
    read -r admitted denied in_a_row <<<"$out"
    if ((stop > 0 && in_a_row < stop)); then
        die "$path for $key: never $stop denied in a row in $count requests ($admitted admitted)"
    fi
}

# metric REPLICA_INDEX NAME: the value of an unlabelled series on that
# replica's /metrics (empty when absent).
metric() {
    curl -fsS "http://127.0.0.1:${admin_ports[$1]}/metrics" |
        awk -v n="$2" '$1 == n { v = $2 } END { print v }'
}

# Whether both us replicas read `floodgate_global_partitioned` $1, after a
# request each (a request is what probes a half-open breaker).
# shellcheck disable=SC2317 # called by wait_for
us_partitioned_is() {
    local i
    for i in 0 1; do
        curl -s -o /dev/null -H 'x-api-key: smoke-probe' "http://127.0.0.1:${public_ports[$i]}/api/v1/data" || return 1
    done
    for i in 0 1; do
        [ "$(metric "$i" floodgate_global_partitioned)" = "$1" ] || return 1
    done
}

if [ "$mode" = smoke ]; then
    # 1. region_weighted: us (40%) admits 400 of 1000, on its own Redis.
    share=$((weighted_limit * weights[0] / 100))
    traffic /resource smoke-one $((share + share / 4)) 0 0 1
    say "1. region_weighted, us replicas, $((share + share / 4)) requests: $admitted admitted, $denied limited (us's share $share of $weighted_limit)"
    ((admitted == share)) || die "admitted $admitted, expected exactly $share"

    # 2. global, a client in us only: the whole limit there; a client in
    # every region: never more than the limit (at least 90% of it).
    traffic /api/v1/data smoke-two $((global_limit * 4)) "$denied_run" 0 1
    say "2. global, us replicas only: $admitted admitted until $denied_run limited in a row (limit $global_limit)"
    ((admitted == global_limit)) || die "admitted $admitted, expected exactly $global_limit"
    traffic /api/v1/data smoke-everywhere $((global_limit * 4)) "$denied_run" 0 1 2 3 4 5
    say "   global, all six replicas: $admitted admitted until $denied_run limited in a row (limit $global_limit)"
    ((admitted <= global_limit && admitted * 10 >= global_limit * 9)) ||
        die "admitted $admitted, expected $((global_limit * 9 / 10)) to $global_limit"

    # 3. us cut off from the global store: still answered, on us's share.
    touch "$work/cut-us"
    share=$((global_limit * weights[0] / 100))
    traffic /api/v1/data smoke-three $((global_limit * 4)) "$denied_run" 0 1
    say "3. us partitioned: $admitted admitted, $denied limited, no error (us's share $share of $global_limit)"
    ((admitted > 0 && admitted <= share)) || die "admitted $admitted, expected 1 to $share"
    for i in 0 1; do
        got="$(metric "$i" floodgate_global_partitioned)"
        say "   us-$((i + 1)): floodgate_global_partitioned $got"
        [ "$got" = 1 ] || die "us-$((i + 1)) does not report the partition"
    done
    rm -f "$work/cut-us"
    start=$SECONDS
    wait_for "us healed (floodgate_global_partitioned 0 on both us replicas)" us_partitioned_is 0
    say "   healed: floodgate_global_partitioned 0 on both us replicas after $((SECONDS - start))s"
    echo "smoke test passed"
    exit 0
fi

echo "Floodgate, three regions (global store behind a ${delay} proxy per region):"
for r in 0 1 2; do
    region="${regions[$r]}"
    echo "  ${region} (weight ${weights[$r]}%):"
    for i in $((2 * r)) $((2 * r + 1)); do
        echo "    ${region}-$((i % 2 + 1)):  public http://127.0.0.1:${public_ports[$i]}  admin http://127.0.0.1:${admin_ports[$i]}"
    done
    echo "    redis:   redis://127.0.0.1:${redis_ports[$((r + 1))]}"
    echo "    proxy:   127.0.0.1:${proxy_ports[$r]} -> global, cut file ${work}/cut-${region}"
done
cat <<EOF
  global redis: redis://127.0.0.1:${global_port}
  configs and logs: ${work}
Limits (check-config, us):
$(grep -E '^  .*scope' "$work/check-us-1.txt")
Try: curl -H 'x-api-key: me' http://127.0.0.1:${public_ports[0]}/resource      (region_weighted, ${weighted_limit}/${window} split 40/40/20)
     curl -H 'x-api-key: me' http://127.0.0.1:${public_ports[0]}/api/v1/data   (global, ${global_limit}/${window} shared)
Partition a region: touch ${work}/cut-us   heal it: rm ${work}/cut-us
  (floodgate_global_partitioned on the region's admin /metrics reads 1, then 0)
Ctrl-C stops everything.
EOF
# Run until interrupted or until one of the processes exits.
set +e
wait -n "${pids[@]}"
say "a process exited; stopping"
exit 1
