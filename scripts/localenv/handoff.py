"""How another shell finds a running ``demo --keep``: ``.state/local-demo/cloud.env``.

The demo writes the file (mode 0600) while its cloud runs and removes it when it stops. It is a shell
file (``source`` works) and ``scripts/cloudctl --env local`` reads it by itself, so an operator never has
to find the backend URL, passphrase or allocation store in the source.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import MutableMapping
from pathlib import Path

import psutil

from provisioning.toolchain import DEFAULT_BACKEND, STATE_DIR
from storage.private_files import FILE_MODE

DEMO_STATE = STATE_DIR / "local-demo"
HANDOFF_FILE = DEMO_STATE / "cloud.env"
LOCAL_PASSPHRASE = "local-dev-only"
"""The local environment's published passphrase (README); a passphrase of the operator's own is never written."""
KEYS = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "ALLOCATIONS_DB")


def demo_settings(environ: MutableMapping[str, str]) -> dict[str, str]:
    """What cloudctl needs to reach the demo's state (the passphrase only when it is the published local one)."""
    settings = {key: environ[key] for key in KEYS if environ.get(key)}
    if settings.get("PULUMI_CONFIG_PASSPHRASE") != LOCAL_PASSPHRASE:
        settings.pop("PULUMI_CONFIG_PASSPHRASE", None)
    return settings


def write_handoff(settings: dict[str, str], pid: int, path: Path | None = None) -> Path:
    """Write ``settings`` for the demo process ``pid`` as ``export`` lines, owner-only."""
    lines = [f"# written by scripts/demo.sh --keep (pid {pid}); removed when it stops", f"DOKPLOY_CLOUD_DEMO_PID={pid}"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in settings.items()]
    path = path or HANDOFF_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def remove_handoff(path: Path | None = None) -> None:
    """Remove the file; already gone is fine."""
    (path or HANDOFF_FILE).unlink(missing_ok=True)


def read_running(path: Path | None = None) -> dict[str, str] | None:
    """The settings of a demo that is still running, or None (no file, or its process is gone)."""
    try:
        text = (path or HANDOFF_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        if len(words) == 1 and "=" in words[0]:
            key, _, value = words[0].partition("=")
            values[key] = value
    pid = values.pop("DOKPLOY_CLOUD_DEMO_PID", "")
    if not pid.isdigit() or not psutil.pid_exists(int(pid)):
        return None
    return {key: value for key, value in values.items() if key in KEYS}


def adopt_running_demo(environ: MutableMapping[str, str], path: Path | None = None) -> dict[str, str]:
    """Point ``environ`` at a running demo's state; return what was set.

    Only settings left at their defaults are taken (``scripts/lib/env.sh`` sets the default backend), so an
    operator's explicit choice wins.
    """
    running = read_running(path)
    if not running:
        return {}
    defaults = {"PULUMI_BACKEND_URL": (None, "", DEFAULT_BACKEND)}
    adopted = {key: value for key, value in running.items() if environ.get(key) in defaults.get(key, (None, ""))}
    environ.update(adopted)
    return adopted


def shell_commands(settings: dict[str, str], path: Path | None = None) -> list[str]:
    """The exact commands to type in another shell (the file's path, and the same by hand)."""
    path = path or HANDOFF_FILE
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in settings.items())
    lines = [
        "scripts/cloudctl --env local status          # finds this demo by itself (" + str(path) + ")",
        "scripts/cloudctl --env local destroy SLUG --yes",
        "or by hand:",
        f"export {exports}",
    ]
    if "PULUMI_CONFIG_PASSPHRASE" not in settings:
        lines.append("export PULUMI_CONFIG_PASSPHRASE=...   # the passphrase you started the demo with")
    return lines
