"""The validators CI runs on the rendered files: cloud-init's own schema check, the Compose Specification's JSON
schema (``reference/compose/compose-spec.json``) plus the restart policies Compose accepts, and
``systemd-analyze verify`` on the unit inside a scratch root. Each returns a list of problems (empty: valid)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

PROJECT_DIR = Path(__file__).resolve().parents[2]
COMPOSE_SCHEMA = PROJECT_DIR / "reference" / "compose" / "compose-spec.json"
RESTART_POLICY = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")
SYSTEM_UNITS = Path("/lib/systemd/system")
GUEST_EXECUTABLES = ("/usr/bin/docker",)
"""Binaries the guest gets from cloud-init's packages (docker.io, docker-compose-v2), absent on the CI machine:
stand-ins are put in the scratch root so ``verify`` checks everything else about the unit."""
GUEST_UNITS = {
    "docker.service": "[Unit]\nDescription=stand-in for docker.io's unit\n\n[Service]\nExecStart=/usr/bin/docker\n"
}
"""Units the guest gets from those packages, as stand-ins (our unit requires docker.service)."""
TIMEOUT = 60


class ValidatorMissing(RuntimeError):
    """A validator's program is not installed."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ValidatorMissing(f"{name} is not installed: run scripts/setup.sh (scripts/install_validators.sh)")
    return path


def cloud_init_errors(path: Path) -> list[str]:
    """``cloud-init schema --config-file PATH``: the errors it prints, or none."""
    result = subprocess.run(
        [_tool("cloud-init"), "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if result.returncode == 0:
        return []
    return [line for line in (result.stderr + result.stdout).splitlines() if line.strip()] or ["invalid"]


@lru_cache(maxsize=1)
def _compose_validator() -> Any:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def compose_errors(document: Any) -> list[str]:
    """The Compose Specification schema's errors, then restart policies the schema leaves as free text."""
    errors = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(document)'}: {error.message}"
        for error in _compose_validator().iter_errors(document)
    ]
    services = document.get("services", {}) if isinstance(document, dict) else {}
    for name, service in services.items() if isinstance(services, dict) else ():
        restart = service.get("restart") if isinstance(service, dict) else None
        if restart is not None and not RESTART_POLICY.match(str(restart)):
            errors.append(f"services/{name}/restart: {restart!r} is not no, always, unless-stopped or on-failure[:N]")
    return errors


def systemd_errors(unit_name: str, unit_text: str) -> list[str]:
    """``systemd-analyze verify`` of the unit in a scratch root holding this machine's system units and stand-ins
    for ``GUEST_EXECUTABLES``. Any output counts: verify only warns (exit 0) about directives it ignores."""
    analyze = _tool("systemd-analyze")
    with tempfile.TemporaryDirectory(prefix="verify-unit-") as scratch:
        root = Path(scratch)
        shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
        for executable in GUEST_EXECUTABLES:
            stand_in = root / executable.lstrip("/")
            stand_in.parent.mkdir(parents=True, exist_ok=True)
            stand_in.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
            stand_in.chmod(0o755)
        for name, text in GUEST_UNITS.items():
            (root / "usr/lib/systemd/system" / name).write_text(text, encoding="utf-8")
        unit = root / "etc/systemd/system" / unit_name
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(unit_text, encoding="utf-8")
        result = subprocess.run(
            [analyze, "verify", "--man=no", f"--root={root}", f"/etc/systemd/system/{unit_name}"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    lines = [line.replace(str(root), "") for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    if result.returncode != 0 and not lines:
        lines = [f"systemd-analyze verify exited {result.returncode}"]
    return lines
