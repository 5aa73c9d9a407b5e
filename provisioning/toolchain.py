"""Where the project's Pulumi toolchain, state and program live, and the environment a run gets."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pulumi import automation as auto

from storage.private_files import private_dir

PROJECT_DIR = Path(__file__).resolve().parents[1]
TOOLS_DIR = PROJECT_DIR / ".tools"
PULUMI_HOME = TOOLS_DIR / "pulumi-home"
STATE_DIR = PROJECT_DIR / ".state"
DEFAULT_BACKEND = f"file://{STATE_DIR / 'backend'}"

# Pass-through of the engine's own settings: no update checks, no plugin downloads, ever.
ENGINE_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_SKIP_CONFIRMATIONS": "true",
}


class ToolchainMissing(RuntimeError):
    """The CLI is not built: run scripts/setup.sh."""


def pulumi_command(cancel: threading.Event | None = None) -> auto.PulumiCommand:
    """The CLI built into .tools/bin by scripts/toolchain/build.sh; interrupted once ``cancel`` is set."""
    if not (TOOLS_DIR / "bin" / "pulumi").exists():
        raise ToolchainMissing(
            f"{TOOLS_DIR / 'bin' / 'pulumi'} is missing: run scripts/setup.sh to build the toolchain"
        )
    if cancel is not None:
        from provisioning.cancel import CancellableCommand

        return CancellableCommand(str(TOOLS_DIR), cancel)
    return auto.PulumiCommand(root=str(TOOLS_DIR))


def backend_url() -> str:
    """PULUMI_BACKEND_URL if set (s3://…, https://api.pulumi.com), else the local file backend."""
    url = os.environ.get("PULUMI_BACKEND_URL") or DEFAULT_BACKEND
    if url.startswith("file://"):
        private_dir(url[len("file://") :])  # stack state: encrypted secrets and customer data
    return url


def engine_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for one engine run: PATH with our tools first, the backend, engine settings, ``extra``."""
    path = f"{TOOLS_DIR / 'bin'}:{PROJECT_DIR / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"
    env = {"PATH": path, "PULUMI_HOME": str(PULUMI_HOME), "PULUMI_BACKEND_URL": backend_url(), **ENGINE_ENV}
    env.update(extra or {})
    return env
