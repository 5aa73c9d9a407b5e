"""Where the project's Pulumi toolchain, state and program live, and the environment a run gets."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult, OnOutput
from semver import VersionInfo

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


CLI_LOG_VAR = "DOKPLOY_CLOUD_CLI_LOG"
"""A file to which every CLI invocation appends ``{"command", "seconds", "pid"}`` (profiling; unset: nothing)."""


class ToolchainMissing(RuntimeError):
    """The CLI is not built: run scripts/setup.sh."""


@functools.cache
def cli_version(command: str) -> VersionInfo:
    """The version of the CLI at ``command``, asked once per process (``pulumi version``)."""
    out = subprocess.run(
        [command, "version"], capture_output=True, text=True, timeout=60, check=True, env={**os.environ, **ENGINE_ENV}
    ).stdout
    return VersionInfo.parse(out.strip().removeprefix("v"))


class ToolchainCommand(auto.PulumiCommand):
    """The project's CLI: its version read once per process, not before every workspace as
    ``auto.PulumiCommand`` does; each invocation logged to :data:`CLI_LOG_VAR` when that is set."""

    def __init__(self, root: str) -> None:  # no super().__init__: that runs `pulumi version` every time
        self.command = os.path.join(root, "bin", "pulumi")
        self.version = cli_version(self.command)

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        started = time.monotonic()
        try:
            return self._run(args, cwd, additional_env, on_output, on_error)
        finally:
            log_cli_call(args, time.monotonic() - started)

    def _run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None,
        on_error: OnOutput | None,
    ) -> CommandResult:
        return super().run(args, cwd, additional_env, on_output, on_error)


def log_cli_call(args: list[str], seconds: float) -> None:
    """Append one invocation (the command words, no flag values) to :data:`CLI_LOG_VAR`'s file, if set."""
    path = os.environ.get(CLI_LOG_VAR)
    if not path:
        return
    words = [a for a in args if a != "--non-interactive"][:2]
    command = " ".join(words) if words[:1] in (["stack"], ["plugin"], ["config"]) else " ".join(words[:1])
    record = {"command": command, "seconds": round(seconds, 3), "pid": os.getpid(), "at": time.time()}
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


def pulumi_command(cancel: threading.Event | None = None) -> auto.PulumiCommand:
    """The CLI built into .tools/bin by scripts/toolchain/build.sh; interrupted once ``cancel`` is set."""
    if not (TOOLS_DIR / "bin" / "pulumi").exists():
        raise ToolchainMissing(
            f"{TOOLS_DIR / 'bin' / 'pulumi'} is missing: run scripts/setup.sh to build the toolchain"
        )
    if cancel is not None:
        from provisioning.cancel import CancellableCommand

        return CancellableCommand(str(TOOLS_DIR), cancel)
    return ToolchainCommand(str(TOOLS_DIR))


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
