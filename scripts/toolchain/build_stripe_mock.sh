#!/usr/bin/env bash
# Builds Stripe's official mock server (github.com/stripe/stripe-mock) from the Go module proxy into
# .tools/bin/stripe-mock, pinned by the tools module scripts/toolchain/stripe_mock (go.mod `tool` directive).
# Idempotent: a stamp keyed on the pinned version skips the build when the binary is already there.
# Usage: scripts/toolchain/build_stripe_mock.sh [--force]
set -euo pipefail
. "$(dirname "$0")/../lib/env.sh"
. "$(dirname "$0")/../lib/go_tool.sh"
build_go_tool stripe-mock github.com/stripe/stripe-mock "$PROJECT_ROOT/scripts/toolchain/stripe_mock" "${1:-}"
