#!/usr/bin/env bash
# Puts pulumi-analyzer-policy-python (our copy, see its header) into .tools/bin. Idempotent.
set -euo pipefail
. "$(dirname "$0")/../lib/env.sh"
mkdir -p "$TOOLS_DIR/bin"
install -m 0755 "$PROJECT_ROOT/scripts/toolchain/pulumi-analyzer-policy-python" "$TOOLS_DIR/bin/"
log "installed $TOOLS_DIR/bin/pulumi-analyzer-policy-python"
