#!/usr/bin/env bash
# Set everything up (idempotent) and run the test suite. Extra arguments go to pytest.
# Exit status is pytest's; "no tests collected" (5) counts as a failure.
set -euo pipefail
. "$(dirname "$0")/lib/env.sh"
bash "$PROJECT_ROOT/scripts/setup.sh"
cd "$PROJECT_ROOT"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-$([ "${CI:-}" = true ] && echo ci || echo default)}"
log "running tests (hypothesis profile: $HYPOTHESIS_PROFILE)"
set +e
"$VENV_DIR/bin/python" -m pytest "$@"
status=$?
set -e
[ $status -eq 5 ] && die "pytest collected no tests"
exit $status
