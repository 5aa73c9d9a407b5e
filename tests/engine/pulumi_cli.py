"""Runs the real pulumi CLI built into .tools/ against a throwaway file:// backend."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = PROJECT_ROOT / ".tools" / "bin"
PULUMI_HOME = PROJECT_ROOT / ".tools" / "pulumi-home"
VENV_BIN = PROJECT_ROOT / ".venv" / "bin"


def toolchain_env(backend_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the CLI: local tools first on PATH, no network, a private backend."""
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{TOOLS_BIN}:{VENV_BIN}:{env.get('PATH', '')}",
            "PULUMI_HOME": str(PULUMI_HOME),
            "PULUMI_BACKEND_URL": f"file://{backend_dir}",
            "PULUMI_CONFIG_PASSPHRASE": "engine-test-passphrase",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "NO_COLOR": "1",
        }
    )
    env.update(extra or {})
    return env


@dataclass
class PulumiCli:
    """A project directory plus the environment to run `pulumi` in it."""

    project_dir: Path
    backend_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    timeout: float = 300.0

    def run(
        self, *args: str, check: bool = True, timeout: float | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `pulumi ARGS...`; on failure (with check) raise with the CLI's own output."""
        result = subprocess.run(
            [str(TOOLS_BIN / "pulumi"), "--non-interactive", *args],
            cwd=self.project_dir,
            env=toolchain_env(self.backend_dir, self.extra_env),
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            input=stdin,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def set_secret(self, key: str, value: str, stack: str | None = None) -> None:
        """`pulumi config set --secret` with the value on stdin, never on the command line."""
        self.run("config", "set", "--secret", key, *(("-s", stack) if stack else ()), stdin=value)

    def outputs(self) -> dict[str, Any]:
        """Stack outputs, secrets shown (test stacks only)."""
        return json.loads(self.run("stack", "output", "--json", "--show-secrets").stdout)

    def state(self) -> dict[str, Any]:
        """The stack's exported checkpoint (deployment)."""
        return json.loads(self.run("stack", "export").stdout)

    def resource_types(self) -> list[str]:
        """Types of the resources in state, in state order."""
        return [r["type"] for r in self.state()["deployment"].get("resources", [])]
