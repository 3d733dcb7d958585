#!/bin/bash
# Container health check: GET /healthz on the admin listener answers 200.
# Usage: floodgate-healthcheck HOST PORT. Plain bash (/dev/tcp), so that the
# image needs no HTTP client.
set -eu
host="${1:-127.0.0.1}"
port="${2:-9090}"
exec 3<>"/dev/tcp/${host}/${port}"
printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$host" >&3
IFS= read -r -t 3 status <&3
case "$status" in
"HTTP/1."?" 200 "*) exit 0 ;;
*)
    echo "unhealthy: ${status:-no answer}" >&2
    exit 1
    ;;
esac
