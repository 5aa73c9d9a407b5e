#!/usr/bin/env bash
# Idempotent install of the monitoring stack and the browser the tests drive, from Debian's packages:
# Prometheus (with promtool), Alertmanager (with amtool), Chromium and ChromeDriver.
# We run our own private instances on loopback (monitoring/stack.py), so the Debian services are kept
# from starting during install and stopped afterwards if they run anyway.
set -euo pipefail

PACKAGES=(prometheus prometheus-alertmanager chromium chromium-driver)

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_monitoring: already installed: ${PACKAGES[*]}"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "install_monitoring: need root to install: ${missing[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    for pkg in "${missing[@]}"; do
        if ! apt-cache policy "$pkg" 2>/dev/null | grep -q "Candidate: [0-9]"; then
            apt-get update -q
            break
        fi
    done
    # policy-rc.d exit 101 = "action forbidden": postinst must not start the packaged services.
    created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        created_policy=1
    fi
    trap '[ "$created_policy" -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    echo "install_monitoring: installed: ${missing[*]}"
fi

for unit in prometheus prometheus-alertmanager prometheus-node-exporter; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$unit" ]; then
        "/etc/init.d/$unit" stop >/dev/null 2>&1 || true
    fi
done

for tool in prometheus promtool prometheus-alertmanager amtool chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "install_monitoring: $tool not on PATH" >&2; exit 1; }
done
echo "install_monitoring: ok ($(prometheus --version 2>&1 | head -1); $(prometheus-alertmanager --version 2>&1 | head -1); $(chromium --version 2>/dev/null))"
