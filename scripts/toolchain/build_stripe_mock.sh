#!/usr/bin/env bash
# Builds Stripe's official mock server (github.com/stripe/stripe-mock) from the Go module proxy into
# .tools/bin/stripe-mock, pinned by the tools module scripts/toolchain/stripe_mock (go.mod `tool` directive).
# Idempotent: a stamp keyed on the pinned version skips the build when the binary is already there.
# Usage: scripts/toolchain/build_stripe_mock.sh [--force]
set -euo pipefail
. "$(dirname "$0")/../lib/env.sh"
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 (the machine image ships it at /usr/local/go)."
module_dir="$PROJECT_ROOT/scripts/toolchain/stripe_mock"
version=$(awk '$1 == "github.com/stripe/stripe-mock" {print $2}' "$module_dir/go.mod")
[ -n "$version" ] || die "no github.com/stripe/stripe-mock requirement in $module_dir/go.mod"
bin="$TOOLS_DIR/bin/stripe-mock" stamp="$TOOLS_DIR/stamps/stripe-mock-$version"
mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/stamps"
if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ -x "$bin" ]; then
  log "stripe-mock $version: cached ($bin)"; exit 0
fi
log "building stripe-mock $version ..."
t0=$SECONDS
(cd "$module_dir" && go build -trimpath -ldflags "-s -w" -o "$bin" github.com/stripe/stripe-mock) \
  || die "building stripe-mock $version failed; a 403 from the Go module proxy means that exact version is not served here."
rm -f "$TOOLS_DIR"/stamps/stripe-mock-*
touch "$stamp"
log "built stripe-mock $version in $((SECONDS - t0))s -> $bin"
