#!/usr/bin/env bash
# The main job on the embedded default: set everything up, start the local simulated cloud
# (Proxmox clusters, Dokploy, PowerDNS), provision the sample tenants in tenants/ through the real
# Pulumi engine and print the fleet. Arguments go to scripts/localenv/demo.py (--keep, --speed ...).
set -euo pipefail
. "$(dirname "$0")/lib/env.sh"
bash "$PROJECT_ROOT/scripts/setup.sh"
cd "$PROJECT_ROOT"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-local-dev-only}"
exec "$VENV_DIR/bin/python" -m scripts.localenv.demo "$@"
