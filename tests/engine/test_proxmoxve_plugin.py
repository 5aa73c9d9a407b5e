"""The proxmoxve resource plugin loads from the local plugin cache and fails clearly when Proxmox is unreachable."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.engine.pulumi_cli import PulumiCli

pytestmark = pytest.mark.engine


def _refused_port() -> int:
    """A loopback port with nothing listening (bound then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_vm_against_refusing_endpoint_fails_with_provider_error(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(Path(__file__).parent / "proxmox_project", project)
    (tmp_path / "backend").mkdir()
    cli = PulumiCli(project_dir=project, backend_dir=tmp_path / "backend", timeout=180)
    cli.run("stack", "init", "unreachable")
    cli.run("config", "set", "endpoint", f"https://127.0.0.1:{_refused_port()}/")
    cli.set_secret("apiToken", "dokploy-cloud@pve!ci=00000000-0000-0000-0000-000000000000")

    started = time.monotonic()
    result = cli.run("up", "--yes", "--skip-preview", check=False)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr

    assert result.returncode != 0
    assert "VmLegacy" in output and "cluster/nextid" in output
    assert "connection refused" in output.lower()
    assert "00000000-0000-0000-0000-000000000000" not in output, "the API token leaked into the output"
    assert "downloading" not in output.lower(), "the CLI tried to download a plugin"
    assert elapsed < 150, f"failure took {elapsed:.0f}s: the provider should fail fast, not hang"
