#!/usr/bin/env bash
# Idempotent install of the monitoring stack and the browser the tests drive, from Debian's packages:
# Prometheus (with promtool), Alertmanager (with amtool), Chromium and ChromeDriver.
# We run our own private instances on loopback (monitoring/stack.py), so the Debian services are kept
# from starting during install and stopped afterwards if they run anyway.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

apt_install_quietly install_monitoring prometheus prometheus-alertmanager chromium chromium-driver
stop_packaged_service prometheus prometheus-alertmanager prometheus-node-exporter

for tool in prometheus promtool prometheus-alertmanager amtool chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "install_monitoring: $tool not on PATH" >&2; exit 1; }
done
echo "install_monitoring: ok ($(prometheus --version 2>&1 | head -1); $(prometheus-alertmanager --version 2>&1 | head -1); $(chromium --version 2>/dev/null))"
