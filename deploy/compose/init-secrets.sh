#!/usr/bin/env bash
# Makes the secrets deploy/compose.yaml needs, once, from /dev/urandom:
#   deploy/compose/secrets/metrics-token  Prometheus's read token (in clear:
#                                         Prometheus presents it)
#   deploy/compose/secrets/ops-token      an admin token for you (mode 600)
#   deploy/.env                           FLOODGATE_ADMIN_TOKENS (the two
#                                         tokens' SHA-256 digests only) and
#                                         GRAFANA_ADMIN_PASSWORD
# Existing files are kept; delete them to make new ones.
set -euo pipefail
deploy="$(cd "$(dirname "$0")/.." && pwd)"
secrets="$deploy/compose/secrets"
mkdir -p "$secrets"

random() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
digest() { printf %s "$(cat "$1")" | sha256sum | cut -c1-64; }

umask 077
[ -s "$secrets/ops-token" ] || random >"$secrets/ops-token"
[ -s "$secrets/metrics-token" ] || random >"$secrets/metrics-token"
# Prometheus runs as nobody in its container and reads the token file
# through a bind mount: it must be readable by others. Keep the host's
# deploy directory to the operators.
chmod 755 "$secrets"
chmod 644 "$secrets/metrics-token"
if [ ! -s "$deploy/.env" ]; then
    {
        echo "FLOODGATE_ADMIN_TOKENS=prometheus:read:$(digest "$secrets/metrics-token"),ops:admin:$(digest "$secrets/ops-token")"
        echo "GRAFANA_ADMIN_PASSWORD=$(random | cut -c1-24)"
    } >"$deploy/.env"
fi
echo "secrets in $secrets, digests and the Grafana password in $deploy/.env"
echo "your admin token: $secrets/ops-token (Authorization: Bearer \$(cat $secrets/ops-token))"
