# Sourced by every script: one place that says where the toolchain, state and venv live.
# Nothing here reaches the network; update checks and plugin downloads are switched off.
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PROJECT_ROOT
# shellcheck source=../versions.env
. "$PROJECT_ROOT/scripts/versions.env"
export TOOLS_DIR="$PROJECT_ROOT/.tools"
export PULUMI_HOME="$TOOLS_DIR/pulumi-home"
export VENV_DIR="$PROJECT_ROOT/.venv"
export PATH="$TOOLS_DIR/bin:$VENV_DIR/bin:$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=false
export PULUMI_SKIP_CONFIRMATIONS=true
# Local state backend is the embedded default; production sets PULUMI_BACKEND_URL (s3://..., https://api.pulumi.com).
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PROJECT_ROOT/.state/backend}"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=mod"
export GOTOOLCHAIN=local

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
