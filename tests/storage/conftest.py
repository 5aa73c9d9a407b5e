"""A fresh database location of each kind (SQLite file, PostgreSQL database) for the storage tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.service.pg import Cluster


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A location no database exists at yet."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'store.sqlite'}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"st_{uuid.uuid4().hex[:12]}")
