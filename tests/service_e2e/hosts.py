"""Worker "hosts" for scale-out tests: each a worker process with a directory of its own.

A host gets its own copy of the project (so its own ``.state/``, stack config files and tenant
declarations), its own ``PULUMI_HOME`` (workspace files), and only the installed software (the
built toolchain, plugins and virtualenv) linked in. What hosts share is what the configuration
names: the queue, the allocation store and the Pulumi state, all in PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pulumi import automation as auto

from provisioning.toolchain import PROJECT_DIR, PULUMI_HOME, TOOLS_DIR
from tests.service_e2e.harness import WorkerProcess

LOCAL_ONLY = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".tools",
    ".state",
    ".run",
    ".pulumi",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    "Pulumi.*.*.yaml",
)
# Settings a host must get from its own configuration, never from the test process's environment.
NOT_INHERITED = ("PULUMI_BACKEND_URL", "ALLOCATIONS_DB", "PULUMI_HOME", "DOKPLOY_CLOUD_ENV_FILE", "PYTHONPATH")


@dataclass
class Host:
    """One machine's worth of local directories."""

    name: str
    root: Path

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def pulumi_home(self) -> Path:
        return self.project / ".tools" / "pulumi-home"

    @classmethod
    def create(cls, name: str, root: Path, environment_file: Path) -> Host:
        """Copy the project under ``root``; link the toolchain and virtualenv; copy the environment file."""
        host = cls(name, root)
        shutil.copytree(PROJECT_DIR, host.project, ignore=LOCAL_ONLY, symlinks=True)
        (host.project / ".venv").symlink_to((PROJECT_DIR / ".venv").resolve())
        tools = host.project / ".tools"
        tools.mkdir()
        for entry in TOOLS_DIR.resolve().iterdir():
            if entry.name != PULUMI_HOME.name:
                (tools / entry.name).symlink_to(entry)
        host.pulumi_home.mkdir()
        (host.pulumi_home / "plugins").symlink_to((PULUMI_HOME / "plugins").resolve())
        shutil.copy(environment_file, host.root / environment_file.name)
        return host

    def env(self, settings: Mapping[str, str]) -> dict[str, str]:
        """The process environment of this host: its own paths plus ``settings``."""
        base = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        return {
            **base,
            "PYTHONPATH": str(self.project),
            "PYTHONUNBUFFERED": "1",
            "PULUMI_HOME": str(self.pulumi_home),
            **settings,
        }

    def start_workers(self, settings: Mapping[str, str]) -> WorkerProcess:
        """``python -m service --workers-only`` from this host's project copy."""
        log = self.root / "worker.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "service", "--workers-only"],
                cwd=self.project,
                env=self.env(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return WorkerProcess(self.name, proc, log)

    def workspace(self, settings: Mapping[str, str]) -> auto.LocalWorkspace:
        """A workspace on this host's project copy, as this host's workers see the state."""
        env = self.env(settings)
        env["PATH"] = f"{self.project / '.tools' / 'bin'}:{env.get('PATH', '')}"
        return auto.LocalWorkspace(
            work_dir=str(self.project),
            env_vars=env,
            pulumi_command=auto.PulumiCommand(root=str(self.project / ".tools")),
        )
