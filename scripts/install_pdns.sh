#!/usr/bin/env bash
# Idempotent install of PowerDNS (authoritative server + SQLite3 backend) and sqlite3.
# We run our own private instance (scripts/localenv/pdns.py), so the Debian service is
# kept from starting during install and stopped/disabled afterwards if it runs anyway.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

apt_install_quietly install_pdns pdns-server pdns-backend-sqlite3 sqlite3
# The packaged service would bind port 53 and is not used by us.
stop_packaged_service pdns

command -v pdns_server >/dev/null || { echo "install_pdns: pdns_server not on PATH" >&2; exit 1; }
echo "install_pdns: ok ($(pdns_server --version 2>&1 | head -1 || true))"
