# build_go_tool NAME MODULE: build Go program MODULE, pinned by the tools module scripts/toolchain/<dir> (its go.mod
# `tool` directive and go.sum), into .tools/bin/NAME. A stamp keyed on the pinned version skips a build whose
# binary is already there; --force (the caller's $1) rebuilds. Source env.sh first.
build_go_tool() {
  local name=$1 module=$2 module_dir=$3 force=${4:-}
  export PATH="$PATH:/usr/local/go/bin"
  command -v go >/dev/null || die "Go is not installed: install Go >= 1.26 (the machine image ships it at /usr/local/go)."
  local version
  version=$(awk -v m="$module" '$1 == m {print $2}' "$module_dir/go.mod")
  [ -n "$version" ] || die "no $module requirement in $module_dir/go.mod"
  local bin="$TOOLS_DIR/bin/$name" stamp="$TOOLS_DIR/stamps/$name-$version"
  mkdir -p "$TOOLS_DIR/bin" "$TOOLS_DIR/stamps"
  if [ "$force" != "--force" ] && [ -f "$stamp" ] && [ -x "$bin" ]; then
    log "$name $version: cached ($bin)"; return 0
  fi
  log "building $name $version ..."
  local t0=$SECONDS
  (cd "$module_dir" && go build -trimpath -ldflags "-s -w" -o "$bin" "$module") \
    || die "building $name $version failed; a 403 from the Go module proxy means that exact version is not served here."
  rm -f "$TOOLS_DIR/stamps/$name-"*
  touch "$stamp"
  log "built $name $version in $((SECONDS - t0))s -> $bin"
}
