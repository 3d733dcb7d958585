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

# Sets variable $1 to a free TCP port on 127.0.0.1 (nothing answers on
# it), below the ephemeral range so that an outgoing connection cannot take
# it between this check and the bind; never the same port twice in one
# script (hence a variable, not a subshell's output).
taken_ports=" "
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        case "$taken_ports" in *" $p "*) continue ;; esac
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            taken_ports="$taken_ports$p "
            printf -v "$1" '%s' "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    exit 1
}
