#!/usr/bin/env bash
# Idempotent install of PowerDNS (authoritative server + SQLite3 backend) and sqlite3.
# We run our own private instance (scripts/localenv/pdns.py), so the Debian service is
# kept from starting during install and stopped/disabled afterwards if it runs anyway.
set -euo pipefail

PACKAGES=(pdns-server pdns-backend-sqlite3 sqlite3)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_pdns: already installed: ${PACKAGES[*]}"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "install_pdns: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Refresh package lists only when they are missing or the candidate is unknown.
    for pkg in "${missing[@]}"; do
        if ! apt-cache policy "$pkg" 2>/dev/null | grep -q "Candidate: [0-9]"; then
            apt-get update -q
            break
        fi
    done
    # policy-rc.d exit 101 = "action forbidden": postinst must not start pdns.service.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    trap '[ "$created_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    echo "install_pdns: installed: ${missing[*]}"
fi

# The packaged service would bind port 53 and is not used by us.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now pdns.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/pdns ]; then
    /etc/init.d/pdns stop >/dev/null 2>&1 || true
fi

command -v pdns_server >/dev/null || { echo "install_pdns: pdns_server not on PATH" >&2; exit 1; }
echo "install_pdns: ok ($(pdns_server --version 2>&1 | head -1 || true))"
