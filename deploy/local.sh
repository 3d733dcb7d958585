#!/usr/bin/env bash
# The compose topology from local binaries: one Redis (append-only), three
# Floodgate replicas sharing it, and a Prometheus scraping the three (with
# the alert rules of deploy/prometheus/alerts.yml loaded).
#
#   deploy/local.sh          start everything, print the addresses, run
#                            until Ctrl-C (or until one process exits)
#   deploy/local.sh smoke    start everything, check that the three
#                            replicas enforce one shared limit exactly,
#                            that Prometheus scrapes all three and that
#                            replica 1's dashboard shows all three alive,
#                            then stop; exit 0 when all hold
#
# Needs: redis-server, redis-cli, prometheus, curl, python3, and the floodgate
# binary (cargo build --release -p floodgate-server).
#
# Environment (all optional):
#   FLOODGATE_BIN          the floodgate binary (default: floodgate on PATH,
#                          else target/release/floodgate, else
#                          target/debug/floodgate)
#   REDIS_PORT             Redis port (default: a free port)
#   PROMETHEUS_PORT        Prometheus port (default: a free port)
#   FLOODGATE_PUBLIC_PORTS three public listener ports, space-separated
#                          (default: free ports)
#   FLOODGATE_ADMIN_PORTS  three admin listener ports, space-separated
#                          (default: free ports)
#   FLOODGATE_UPSTREAM     an upstream URL for the gateway (default: none,
#                          the built-in demo endpoints answer)
#   SMOKE_LIMIT            the shared limit the smoke test checks (default 30)
#   DEADLINE               seconds to wait for anything to come up (default 30)
#   REDIS_TOPOLOGY         `single` (default): one Redis; `sentinel`: a
#                          primary, a replica and three Sentinels (quorum
#                          2, master name floodgate), the replicas on
#                          `kind: redis_sentinel`
#   KEEP_DIR               set to 1 to keep the working directory (configs,
#                          logs, Redis and Prometheus data) on exit
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
limit="${SMOKE_LIMIT:-30}"

say() { echo "local.sh: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

for tool in redis-server redis-cli prometheus curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
done

bin="${FLOODGATE_BIN:-}"
if [ -z "$bin" ]; then
    if command -v floodgate >/dev/null 2>&1; then
        bin="$(command -v floodgate)"
    elif [ -x "$root/target/release/floodgate" ]; then
        bin="$root/target/release/floodgate"
    elif [ -x "$root/target/debug/floodgate" ]; then
        bin="$root/target/debug/floodgate"
    else
        die "no floodgate binary: run 'cargo build --release -p floodgate-server' or set FLOODGATE_BIN"
    fi
fi
[ -x "$bin" ] || die "FLOODGATE_BIN=$bin is not executable"

work="$(mktemp -d "${TMPDIR:-/tmp}/floodgate-local.XXXXXX")"
pids=()
taken=" "
interrupted=0

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

# Sets $port to a port nothing listens on now (and not handed out
# before), below the kernel's ephemeral range (32768 and up on Linux),
# where an outgoing connection could take it between this check and the
# bind. Called in this shell (not in `$(...)`), so that what it handed
# out is remembered.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        case "$taken" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            taken="$taken$p "
            port=$p
            return 0
        fi
    done
    die "no free port found"
}

# Sets $ports to $1 free ports, space-separated.
free_ports() {
    ports=""
    for _ in $(seq 1 "$1"); do
        free_port
        ports="$ports${ports:+ }$port"
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

free_port
redis_port="${REDIS_PORT:-$port}"
free_port
prom_port="${PROMETHEUS_PORT:-$port}"
free_ports 3
read -r -a public_ports <<<"${FLOODGATE_PUBLIC_PORTS:-$ports}"
free_ports 3
read -r -a admin_ports <<<"${FLOODGATE_ADMIN_PORTS:-$ports}"
((${#public_ports[@]} == 3)) || die "FLOODGATE_PUBLIC_PORTS needs three ports"
((${#admin_ports[@]} == 3)) || die "FLOODGATE_ADMIN_PORTS needs three ports"

# Redis, append-only (fsync every second), no RDB snapshots.
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" \
    --appendonly yes --appendfsync everysec --save "" \
    >"$work/redis.log" 2>&1 &
pids+=($!)
wait_for "Redis on port $redis_port" redis-cli -p "$redis_port" ping

store_lines="  kind: redis
  url: redis://127.0.0.1:${redis_port}"
topology="${REDIS_TOPOLOGY:-single}"
case "$topology" in
single) ;;
sentinel)
    # A replica of it, and three Sentinels watching the primary.
    free_port
    replica_port=$port
    mkdir -p "$work/replica"
    redis-server --port "$replica_port" --bind 127.0.0.1 --dir "$work/replica" \
        --replicaof 127.0.0.1 "$redis_port" --save "" \
        >"$work/replica.log" 2>&1 &
    pids+=($!)
    wait_for "the replica on port $replica_port" redis-cli -p "$replica_port" ping
    sentinel_urls=""
    for s in 1 2 3; do
        free_port
        sp=$port
        mkdir -p "$work/sentinel-$s"
        printf '%s\n' "port $sp" "bind 127.0.0.1" "dir $work/sentinel-$s" \
            "sentinel monitor floodgate 127.0.0.1 $redis_port 2" \
            "sentinel down-after-milliseconds floodgate 2000" \
            "sentinel failover-timeout floodgate 10000" >"$work/sentinel-$s/sentinel.conf"
        redis-server "$work/sentinel-$s/sentinel.conf" --sentinel >"$work/sentinel-$s.log" 2>&1 &
        pids+=($!)
        wait_for "Sentinel $s on port $sp" redis-cli -p "$sp" ping
        sentinel_urls="${sentinel_urls:+$sentinel_urls, }redis://127.0.0.1:$sp"
    done
    store_lines="  kind: redis_sentinel
  master_name: floodgate
  sentinels: [${sentinel_urls}]"
    say "Sentinel: primary on port $redis_port, replica on $replica_port, Sentinels ${sentinel_urls}"
    ;;
*) die "REDIS_TOPOLOGY is single or sentinel, not $topology" ;;
esac

# Three replicas on that Redis, one shared limit per client IP.
upstream_line=""
[ -n "${FLOODGATE_UPSTREAM:-}" ] && upstream_line="upstream: ${FLOODGATE_UPSTREAM}"
for i in 0 1 2; do
    cat >"$work/floodgate-$((i + 1)).yaml" <<EOF
listen: 127.0.0.1:${public_ports[$i]}
admin:
  listen: 127.0.0.1:${admin_ports[$i]}
  dashboard: { replica: replica-$((i + 1)), publish_every: 500ms }
${upstream_line}
store:
${store_lines}
rules:
  - name: per-ip
    match: { path: /api/v1/data }
    key: ip
    limits:
      - { algorithm: token_bucket, capacity: ${limit}, refill: 1/h }
EOF
    "$bin" serve --config "$work/floodgate-$((i + 1)).yaml" >"$work/floodgate-$((i + 1)).log" 2>&1 &
    pids+=($!)
done
for i in 0 1 2; do
    wait_for "floodgate replica $((i + 1))" curl -fsS "http://127.0.0.1:${admin_ports[$i]}/readyz"
done

# Prometheus scraping the three admin listeners every second.
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - ${root}/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: floodgate
    static_configs:
      - targets:
          - 127.0.0.1:${admin_ports[0]}
          - 127.0.0.1:${admin_ports[1]}
          - 127.0.0.1:${admin_ports[2]}
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)
wait_for "Prometheus on port $prom_port" curl -fsS "http://127.0.0.1:$prom_port/-/ready"

# Whether Prometheus's targets API lists the three replicas, all up.
all_targets_up() {
    local body
    body="$(curl -fsS "http://127.0.0.1:$prom_port/api/v1/targets?state=active")" || return 1
    [ "$(grep -o '"scrapePool":"floodgate"' <<<"$body" | wc -l)" -eq 3 ] &&
        [ "$(grep -o '"health":"up"' <<<"$body" | wc -l)" -eq 3 ]
}

# Whether replica 1's dashboard shows the fleet: three replicas alive,
# and over the last minute exactly $1 allowed and $2 limited in all.
fleet_seen() {
    curl -fsS "http://127.0.0.1:${admin_ports[0]}/dashboard/data" | python3 -c '
import json, sys
f = json.load(sys.stdin)["fleet"]
names = sorted(r["replica"] for r in f["replicas"] if r["alive"])
counts = [f["last_minute"]["allowed"], f["last_minute"]["limited"]]
sys.exit(0 if names == ["replica-1", "replica-2", "replica-3"]
         and counts == [int(sys.argv[1]), int(sys.argv[2])] else 1)
' "$1" "$2"
}

if [ "$mode" = smoke ]; then
    # 1.5 × the limit, spread over the three replicas in turn: exactly
    # `limit` allowed in all, the rest 429.
    total=$((limit * 3 / 2))
    allowed=0
    denied=0
    for n in $(seq 0 $((total - 1))); do
        port="${public_ports[$((n % 3))]}"
        code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1/data")"
        case "$code" in
        200) allowed=$((allowed + 1)) ;;
        429) denied=$((denied + 1)) ;;
        *) die "replica on port $port answered $code" ;;
        esac
    done
    say "three replicas, $total requests: $allowed allowed, $denied limited (limit $limit)"
    [ "$allowed" -eq "$limit" ] || die "allowed $allowed, expected exactly $limit"
    [ "$denied" -eq $((total - limit)) ] || die "limited $denied, expected $((total - limit))"
    wait_for "three 'up' floodgate targets in Prometheus" all_targets_up
    say "Prometheus scrapes all three replicas (targets API: up)"
    wait_for "the fleet on replica 1's dashboard" fleet_seen "$limit" "$((total - limit))"
    say "replica 1's dashboard shows the fleet: three replicas alive, $limit allowed and $((total - limit)) limited in all"
    echo "smoke test passed"
    exit 0
fi

cat <<EOF
Floodgate, three replicas on one Redis:
  public:     http://127.0.0.1:${public_ports[0]}  http://127.0.0.1:${public_ports[1]}  http://127.0.0.1:${public_ports[2]}
  admin:      http://127.0.0.1:${admin_ports[0]}  http://127.0.0.1:${admin_ports[1]}  http://127.0.0.1:${admin_ports[2]}
  redis:      redis://127.0.0.1:${redis_port}
  prometheus: http://127.0.0.1:${prom_port}
  configs and logs: ${work}
Ctrl-C stops everything.
EOF
# Run until interrupted or until one of the processes exits.
set +e
wait -n "${pids[@]}"
say "a process exited; stopping"
exit 1
