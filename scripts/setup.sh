#!/usr/bin/env bash
# One-time (and idempotent) set-up of everything the project needs on a fresh machine:
#   1. Debian packages (PowerDNS for the real DNS server, PostgreSQL, Prometheus and Alertmanager,
#      Chromium and ChromeDriver for the operator page's browser test, cloud-init and systemd for their validators)
#   2. the Python virtualenv with pinned dependencies (including ruff and mypy, run by scripts/test.sh)
#   3. the Pulumi toolchain built from the Go module proxy (CLI, language host, shims, plugins), stripe-mock
#      and HashiCorp Vault
# A second run with everything in place takes seconds.
set -euo pipefail
. "$(dirname "$0")/lib/env.sh"
t_all=$SECONDS

step() { log "== $*"; }

step "system packages (PowerDNS, PostgreSQL, Prometheus, Alertmanager, Chromium, cloud-init)"
bash "$PROJECT_ROOT/scripts/install_pdns.sh"
bash "$PROJECT_ROOT/scripts/install_queue_backend.sh"
bash "$PROJECT_ROOT/scripts/install_monitoring.sh"
bash "$PROJECT_ROOT/scripts/install_validators.sh"

step "python virtualenv ($VENV_DIR)"
want=$(cat "$PROJECT_ROOT/requirements.txt" "$PROJECT_ROOT/constraints.txt" 2>/dev/null | sha256sum | cut -c1-16)
have=$(cat "$VENV_DIR/.requirements-hash" 2>/dev/null || true)
# The lint and type checks scripts/test.sh runs: present at their pinned versions, or the venv is reinstalled.
checkers_pinned() {
  local tool pin
  for tool in ruff mypy; do
    pin=$(sed -n "s/^$tool==\([^ ]*\).*/\1/p" "$PROJECT_ROOT/requirements.txt")
    [ -n "$pin" ] || die "requirements.txt pins no $tool version (scripts/test.sh needs it)"
    "$VENV_DIR/bin/$tool" --version 2>/dev/null | grep -Eq "^$tool $pin( |\$)" || return 1
  done
}
if [ "$want" != "$have" ] || ! checkers_pinned; then
  t0=$SECONDS
  [ -x "$VENV_DIR/bin/python" ] || python3 -m venv "$VENV_DIR" || die "could not create a virtualenv: install python3-venv (apt-get install -y python3-venv)"
  "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check \
    -r "$PROJECT_ROOT/requirements.txt" -c "$PROJECT_ROOT/constraints.txt" \
    || die "pip install failed: check the pins in requirements.txt/constraints.txt are served by PyPI"
  checkers_pinned || die "ruff or mypy is missing from $VENV_DIR after the install, or not at its pinned version"
  echo "$want" > "$VENV_DIR/.requirements-hash"
  log "virtualenv ready in $((SECONDS - t0))s"
else
  log "virtualenv up to date"
fi

step "pulumi toolchain"
bash "$PROJECT_ROOT/scripts/toolchain/build.sh"
bash "$PROJECT_ROOT/scripts/toolchain/install_policy_analyzer.sh"

step "stripe-mock"
bash "$PROJECT_ROOT/scripts/toolchain/build_stripe_mock.sh"

step "vault (the production secrets backend; tests start it)"
bash "$PROJECT_ROOT/scripts/toolchain/build_vault.sh"

log "set-up complete in $((SECONDS - t_all))s ($(pulumi version), plugins: $(pulumi plugin ls 2>/dev/null | awk 'NR>1 && $1!="" && $1!="TOTAL" {printf "%s %s; ", $1, $3}'))"
