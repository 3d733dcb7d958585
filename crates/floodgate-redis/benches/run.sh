#!/usr/bin/env bash
# Runs the Redis backend benchmark: RedisStore::check at concurrency 64 and
# redis-benchmark's FCALL (the store's call) at -c 64 against the same fresh redis-server,
# then a paced run at 1,200 decisions/s. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../../.."
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
    echo "needs redis-server and redis-benchmark" >&2
    exit 1
}
FLOODGATE_BENCH_SECS="${FLOODGATE_BENCH_SECS:-5}" cargo bench -p floodgate-redis --bench redis
