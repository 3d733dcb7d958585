# Shared by the bench scripts (sourced): processes stopped on exit, and
# waiting for a URL to answer.

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# Polls URL $1 until it answers 2xx, for at most 10 s.
wait_up() {
    for _ in $(seq 100); do
        curl -fs "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$1 did not come up" >&2
    exit 1
}
