#!/usr/bin/env bash
# The provisioning service's scale-out queue backend: Debian's PostgreSQL server (initdb, pg_ctl).
# Idempotent: does nothing when a server is already installed. Tests start throwaway clusters from it.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  echo "postgresql server present: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql
# Debian starts a default cluster; the service's tests use their own, so stop it to free port 5432.
if command -v pg_ctlcluster > /dev/null; then
  for cluster in /etc/postgresql/*/main; do
    [ -d "$cluster" ] || continue
    version=$(basename "$(dirname "$cluster")")
    pg_ctlcluster "$version" main stop 2> /dev/null || true
  done
fi
