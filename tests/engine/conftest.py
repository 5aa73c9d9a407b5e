"""Fixtures for tests that drive the real pulumi CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import local_cloud  # noqa: F401  (the e2e cloud, for policy pack tests previewing real stacks)
from tests.engine.pulumi_cli import TOOLS_BIN, PulumiCli

SMOKE_PROJECT = Path(__file__).parent / "smoke_project"


@pytest.fixture(scope="session", autouse=True)
def _toolchain_present() -> None:
    if not (TOOLS_BIN / "pulumi").exists():
        pytest.fail("the pulumi toolchain is not built: run scripts/setup.sh first")


@pytest.fixture
def smoke_stack(tmp_path: Path) -> PulumiCli:
    """A fresh copy of the smoke project with an initialised stack on its own backend."""
    project = tmp_path / "project"
    shutil.copytree(SMOKE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "backend").mkdir()
    cli = PulumiCli(project_dir=project, backend_dir=tmp_path / "backend")
    cli.run("stack", "init", "smoke")
    cli.run("config", "set", "markerPath", str(tmp_path / "marker.txt"))
    return cli
