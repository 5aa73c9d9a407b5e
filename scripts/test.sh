#!/usr/bin/env bash
# Set everything up (idempotent), check lint and types, and run the test suite. Extra arguments go to pytest.
# ruff (lint and format) and mypy read their configuration from pyproject.toml (what they check, and how
# strictly); any finding fails the run before a test starts.
# Exit status is pytest's; "no tests collected" (5) counts as a failure.
set -euo pipefail
. "$(dirname "$0")/lib/env.sh"
bash "$PROJECT_ROOT/scripts/setup.sh"
cd "$PROJECT_ROOT"

log "lint: ruff check (rules in pyproject.toml [tool.ruff])"
"$VENV_DIR/bin/ruff" check --quiet --output-format concise . \
  || die "ruff found the problems listed above; fix them ('.venv/bin/ruff check --fix <path>' fixes the ones marked [*])"

log "format: ruff format --check (the one code layout; 'ruff format .' applies it)"
"$VENV_DIR/bin/ruff" format --check --quiet . \
  || die "files above are not in ruff format's layout; run '.venv/bin/ruff format .'"

log "types: mypy (paths and strictness in pyproject.toml [tool.mypy])"
"$VENV_DIR/bin/mypy" \
  || die "mypy found the problems listed above; fix them (a '# type: ignore[code]' needs a reason next to it)"

export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-$([ "${CI:-}" = true ] && echo ci || echo default)}"
log "running tests (hypothesis profile: $HYPOTHESIS_PROFILE)"
set +e
"$VENV_DIR/bin/python" -m pytest "$@"
status=$?
set -e
[ $status -eq 5 ] && die "pytest collected no tests"
exit $status
