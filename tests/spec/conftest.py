"""Fixtures for tenant spec tests: the sample plans and a scratch tenants directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.spec import Plan, load_plans

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """Plans from the sample config/plans.yaml."""
    return load_plans(REPO / "config" / "plans.yaml")


@pytest.fixture()
def tenants_dir(tmp_path: Path) -> Path:
    """An empty directory to write tenant files into."""
    path = tmp_path / "tenants"
    path.mkdir()
    return path
