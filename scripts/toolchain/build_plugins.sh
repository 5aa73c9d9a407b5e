#!/usr/bin/env bash
# Builds our bridged Pulumi resource plugins from the Go module proxy and registers them
# with the Pulumi CLI (.tools/bin/pulumi, PULUMI_HOME=.tools/pulumi-home):
#
#   proxmoxve  PROXMOXVE_PLUGIN_VERSION  bpg/terraform-provider-proxmox   scripts/toolchain/proxmoxve
#   random     RANDOM_PLUGIN_VERSION     terraform-provider-random        scripts/toolchain/random
#
# The versions (scripts/versions.env) must equal the pulumi-proxmoxve / pulumi-random pins in
# requirements.txt: the Python SDK asks the engine for exactly that plugin version.
#
# Each plugin binary doubles as its own schema generator (tfgen). Per plugin:
#   1. stage-1 build (embeds no schema)      go build
#   2. schema generation                      BIN tfgen schema --out .tools/build/NAME-schema
#   3. embed schema + bridge metadata         copy into scripts/toolchain/NAME/embedded/ (gitignored)
#   4. final build                            .tools/plugins/NAME-VERSION/pulumi-resource-NAME
#   5. smoke check                            BIN --version, BIN --dump-schema
#   6. SDK check (if the SDK in .venv has the same version) check_sdk_tokens.py
#   7. register                               pulumi plugin install resource NAME VERSION --file BIN
#
# Cached: a plugin is rebuilt only when its binary is missing or its sources (go.mod, go.sum,
# *.go, shim/) changed since the last build; registration is skipped when PULUMI_HOME already
# holds an identical binary. Usage: scripts/toolchain/build_plugins.sh [proxmoxve|random ...]
set -euo pipefail
. "$(dirname "$0")/../lib/env.sh"

: "${RANDOM_PLUGIN_VERSION:?RANDOM_PLUGIN_VERSION missing from scripts/versions.env}"
: "${PROXMOXVE_PLUGIN_VERSION:?PROXMOXVE_PLUGIN_VERSION missing from scripts/versions.env}"

BUILD_DIR="$TOOLS_DIR/build"
PLUGINS_DIR="$TOOLS_DIR/plugins"
PULUMI_BIN="$TOOLS_DIR/bin/pulumi"
mkdir -p "$BUILD_DIR" "$PLUGINS_DIR" "$PULUMI_HOME"
command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 (the machine image ships it at /usr/local/go)."

# Never let a build edit go.mod/go.sum behind our back (env.sh sets -mod=mod for the CLI modules).
GOBUILD=(go build -mod=readonly -trimpath)

STEP=""
fail() {  # fail HINT: name the step that failed and say what to do
  die "build_plugins.sh: step '$STEP' failed. $1"
}

plugin_version() {
  case $1 in
    proxmoxve) echo "$PROXMOXVE_PLUGIN_VERSION" ;;
    random) echo "$RANDOM_PLUGIN_VERSION" ;;
    *) die "unknown plugin '$1' (plugins: proxmoxve random)" ;;
  esac
}

sources_hash() {  # hash of everything in the module that goes into the binary, except generated files
  (cd "$1" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
      | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

check_sdk_pin() {  # warn when requirements.txt pins another SDK version than the plugin we build
  local name=$1 version=$2 pin
  pin=$(sed -n "s/^pulumi-$name==\([^ ;#]*\).*/\1/p" "$PROJECT_ROOT/requirements.txt")
  if [ -n "$pin" ] && [ "$pin" != "$version" ]; then
    log "WARNING: requirements.txt pins pulumi-$name==$pin but we build plugin $name $version;" \
        "the SDK will ask for $name v$pin, which is not installed. Align requirements.txt and scripts/versions.env."
  fi
}

build_plugin() {
  local name=$1 version src out bin stage1 gen hash t0
  version=$(plugin_version "$name")
  src="$PROJECT_ROOT/scripts/toolchain/$name"
  out="$PLUGINS_DIR/$name-$version"
  bin="$out/pulumi-resource-$name"
  stage1="$BUILD_DIR/$name-stage1"
  gen="$BUILD_DIR/$name-schema"
  check_sdk_pin "$name" "$version"
  hash=$(sources_hash "$src")
  if [ -x "$bin" ] && [ "$(cat "$out/.sources.sha256" 2>/dev/null)" = "$hash" ]; then
    log "$name $version: cached ($bin)"
    return 0
  fi

  local ldflags="-s -w -X main.version=$version"
  t0=$SECONDS
  STEP="$name: stage-1 build"
  log "$STEP (go build in $src; a cold build takes several minutes) ..."
  rm -f "$src/embedded/schema.json" "$src/embedded/bridge-metadata.json"
  (cd "$src" && "${GOBUILD[@]}" -ldflags "$ldflags" -o "$stage1" .) \
    || fail "Check the Go error above. 'updates to go.mod needed' means: (cd $src && GOFLAGS=-mod=mod go mod tidy). A 403 from the Go module proxy means that exact module version is not served here."
  log "$STEP done in $((SECONDS - t0))s"

  local t1=$SECONDS
  STEP="$name: schema generation (tfgen)"
  log "$STEP ..."
  rm -rf "$gen" && mkdir -p "$gen"
  "$stage1" tfgen schema --skip-docs --skip-examples --out "$gen" >"$gen.log" 2>&1 \
    || { tail -n 30 "$gen.log" >&2; fail "tfgen rejected the provider mapping (log: $gen.log). Fix the token mapping in $src/resources.go."; }
  [ -s "$gen/schema.json" ] && [ -s "$gen/bridge-metadata.json" ] \
    || fail "tfgen produced no schema.json/bridge-metadata.json in $gen (log: $gen.log)."
  # tfgen leaves the version out of the schema; stamp the plugin version in.
  python3 - "$gen/schema.json" "$version" <<'PY' || fail "could not stamp the version into $gen/schema.json"
import json, sys
path, version = sys.argv[1], sys.argv[2]
with open(path) as f:
    spec = json.load(f)
spec["version"] = version
with open(path, "w") as f:
    json.dump(spec, f, separators=(",", ":"))
PY
  cp "$gen/schema.json" "$gen/bridge-metadata.json" "$src/embedded/"
  log "$STEP done in $((SECONDS - t1))s"

  t1=$SECONDS
  STEP="$name: final build"
  log "$STEP ..."
  mkdir -p "$out"
  (cd "$src" && "${GOBUILD[@]}" -ldflags "$ldflags" -o "$bin.tmp" .) \
    || fail "The stage-1 build of the same sources succeeded, so this is unexpected: re-run this script."
  mv "$bin.tmp" "$bin"
  rm -f "$stage1"  # ~100 MB; the Go build cache keeps what a rebuild needs
  cp "$gen/schema.json" "$gen/bridge-metadata.json" "$out/"
  log "$STEP done in $((SECONDS - t1))s"

  STEP="$name: smoke check"
  local got
  got=$("$bin" --version) || fail "$bin --version failed."
  [ "$got" = "$version" ] || fail "$bin --version printed '$got', expected '$version'."
  "$bin" --dump-schema | python3 -c 'import json,sys; json.load(sys.stdin)' \
    || fail "$bin serves no valid embedded schema."

  check_against_sdk "$name" "$version" "$bin"
  echo "$hash" >"$out/.sources.sha256"
  log "built $name $version in $((SECONDS - t0))s: $bin"
}

check_against_sdk() {  # the plugin must serve every token/config key/property the Python SDK uses
  local name=$1 version=$2 bin=$3 py="$VENV_DIR/bin/python" sdk_version
  sdk_version=$("$py" -c "import importlib.metadata as m; print(m.version('pulumi-$name'))" 2>/dev/null || true)
  if [ "$sdk_version" != "$version" ]; then
    log "$name: SDK check skipped: .venv has pulumi-$name '${sdk_version:-not installed}', not $version (run scripts/setup.sh)."
    return 0
  fi
  STEP="$name: check against the pulumi-$name $version Python SDK"
  "$py" "$PROJECT_ROOT/scripts/toolchain/check_sdk_tokens.py" --sdk "pulumi_$name" --binary "$bin" >&2 \
    || fail "the plugin does not serve what the SDK expects (MISSING/MISMATCH lines above): add overrides in scripts/toolchain/$name/resources.go."
}

register_plugin() {
  local name=$1 version bin installed
  version=$(plugin_version "$name")
  bin="$PLUGINS_DIR/$name-$version/pulumi-resource-$name"
  if [ ! -x "$PULUMI_BIN" ]; then
    log "$name $version: not registered: $PULUMI_BIN does not exist yet (run scripts/toolchain/build.sh cli, then this script again)."
    return 0
  fi
  installed="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
  if [ -f "$installed" ] && cmp -s "$installed" "$bin"; then
    log "$name $version: already registered in $PULUMI_HOME"
    return 0
  fi
  STEP="$name: register with pulumi"
  "$PULUMI_BIN" plugin install resource "$name" "$version" --file "$bin" --reinstall \
    || fail "'pulumi plugin install resource $name $version --file $bin' failed; check PULUMI_HOME=$PULUMI_HOME is writable."
  log "registered $name $version in $PULUMI_HOME"
}

plugins=("$@"); [ ${#plugins[@]} -gt 0 ] || plugins=(proxmoxve random)
# One build at a time: the builds write generated files into the source tree.
exec 9>"$BUILD_DIR/.build_plugins.lock"
flock 9
for p in "${plugins[@]}"; do
  plugin_version "$p" >/dev/null
  build_plugin "$p"
  register_plugin "$p"
done
