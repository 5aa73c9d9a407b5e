#!/usr/bin/env bash
# Idempotent install of the validators CI runs on the documents we render for guests and hosts, from Debian's
# packages: cloud-init (`cloud-init schema --config-file`, for every cloud-init document in the repo) and systemd
# (`systemd-analyze verify`, for the control plane's units). cloud-init's services must never run on this machine:
# it is installed for its schema checker only, with the packaged services kept from starting.
set -euo pipefail
. "$(dirname "$0")/lib/apt.sh"

apt_install_quietly install_validators cloud-init systemd
stop_packaged_service cloud-init-local cloud-init cloud-config cloud-final

for tool in cloud-init systemd-analyze; do
    command -v "$tool" >/dev/null || { echo "install_validators: $tool not on PATH" >&2; exit 1; }
done
echo "install_validators: ok (cloud-init $(cloud-init --version 2>&1 | awk '{print $NF}'); $(systemd-analyze --version | head -1))"
