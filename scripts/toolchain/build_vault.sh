#!/usr/bin/env bash
# Builds HashiCorp Vault (github.com/hashicorp/vault) from the Go module proxy into .tools/bin/vault, pinned by
# the tools module scripts/toolchain/vault (go.mod `tool` directive; why v1.21.0 is in its go.mod). The secrets
# manager of the vault secrets backend (docs/security/secrets.md); tests start it with scripts/vault/server.py.
# Idempotent: a stamp keyed on the pinned version skips the build when the binary is already there.
# A cold build takes about 10 minutes on 2 cores (Vault links every built-in plugin).
# Usage: scripts/toolchain/build_vault.sh [--force]
set -euo pipefail
. "$(dirname "$0")/../lib/env.sh"
. "$(dirname "$0")/../lib/go_tool.sh"
build_go_tool vault github.com/hashicorp/vault "$PROJECT_ROOT/scripts/toolchain/vault" "${1:-}"
