"""A fresh clone is self-contained: the reference data the simulators read lives in the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sim.proxmox.schema import Schema, apidoc_path

REPO = Path(__file__).resolve().parents[2]


def test_apidoc_defaults_to_the_copy_in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PVE_APIDOC", raising=False)
    path = apidoc_path()
    assert path.is_relative_to(REPO) and path.is_file(), path
    assert Schema(path).lookup(["nodes", "pve1", "qemu"]) == ("/nodes/{node}/qemu", {"node": "pve1"})


def test_nothing_tracked_points_outside_the_repository_for_reference_data() -> None:
    out = subprocess.run(
        ["git", "grep", "-n", "-I", "shared/reference", "--", ".", ":!tests/sim_proxmox/test_reference_data.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1, f"references to data outside the repository:\n{out.stdout}"
