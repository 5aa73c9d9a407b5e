"""Fixtures for tenant spec tests: the sample plans and a scratch tenants directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.environment import load_environment
from components.spec import Plan

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """The local environment's plans (Pulumi.local.yaml), the same ones the program uses."""
    return dict(load_environment(REPO, "local").plans)


@pytest.fixture()
def tenants_dir(tmp_path: Path) -> Path:
    """An empty directory to write tenant files into."""
    path = tmp_path / "tenants"
    path.mkdir()
    return path
