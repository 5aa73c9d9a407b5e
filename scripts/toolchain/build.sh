#!/usr/bin/env bash
# Builds the Pulumi toolchain from the Go module proxy into .tools/ (idempotent, cached):
#   cli       pulumi CLI (pkg/v3) at PULUMI_VERSION
#   langhost  pulumi-language-python (see versions.env for why its version differs)
#   shims     pulumi-language-python-exec and pulumi-resource-pulumi-python from sdk/v3 at PULUMI_VERSION
#   plugins   resource plugins (scripts/toolchain/build_plugins.sh)
# Usage: scripts/toolchain/build.sh [step ...]   (default: all steps)
set -euo pipefail
. "$(dirname "$0")/../lib/env.sh"
mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/stamps" "$PULUMI_HOME"
command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 (the machine image ships it at /usr/local/go)."

timed() {  # timed NAME CMD...: run a step, report its duration, name it on failure
  local name=$1; shift
  local t0=$SECONDS
  log "building $name ..."
  if ! "$@"; then
    die "step '$name' failed. Re-run 'scripts/toolchain/build.sh $name' to retry; a 403 from the Go module proxy means that exact module version is not served here."
  fi
  log "built $name in $((SECONDS - t0))s"
}

stamp_ok() { [ -f "$TOOLS_DIR/stamps/$1" ] && [ -x "$2" ]; }

build_cli() {
  local bin="$TOOLS_DIR/bin/pulumi" stamp="cli-$PULUMI_VERSION"
  stamp_ok "$stamp" "$bin" && { log "cli $PULUMI_VERSION: cached"; return; }
  (cd "$PROJECT_ROOT/scripts/toolchain/cli" && go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$bin" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi)
  touch "$TOOLS_DIR/stamps/$stamp"
}

build_langhost() {
  local bin="$TOOLS_DIR/bin/pulumi-language-python" stamp="langhost-$LANGHOST_SDK_VERSION"
  stamp_ok "$stamp" "$bin" && { log "langhost $LANGHOST_SDK_VERSION: cached"; return; }
  (cd "$PROJECT_ROOT/scripts/toolchain/langhost" && go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$LANGHOST_SDK_VERSION" \
    -o "$bin" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python)
  touch "$TOOLS_DIR/stamps/$stamp"
}

install_shims() {
  local dir
  dir=$(cd "$PROJECT_ROOT/scripts/toolchain/cli" && go mod download -json "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  install -m 0755 "$dir/python/cmd/pulumi-language-python-exec" "$TOOLS_DIR/bin/"
  install -m 0755 "$dir/python/dist/pulumi-resource-pulumi-python" "$TOOLS_DIR/bin/"
}

build_plugins() { bash "$PROJECT_ROOT/scripts/toolchain/build_plugins.sh"; }

steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(cli langhost shims plugins)
for step in "${steps[@]}"; do
  case $step in
    cli) timed "pulumi CLI v$PULUMI_VERSION" build_cli ;;
    langhost) timed "pulumi-language-python v$LANGHOST_SDK_VERSION" build_langhost ;;
    shims) timed "python shims (sdk v$PULUMI_VERSION)" install_shims ;;
    plugins) timed "resource plugins" build_plugins ;;
    *) die "unknown step '$step' (steps: cli langhost shims plugins)" ;;
  esac
done
