"""``declared_tenants`` reads the service's tenants read-only, without importing the service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from service.queue import open_queue
from storage.engine import create_engine, is_postgres_location, sqlite_path
from storage.tenants import DeclaredTenant, declared_tenants

ROOT = Path(__file__).resolve().parents[2]


def test_every_tenant_with_its_declaration_and_phase(location: str) -> None:
    queue = open_queue(location if is_postgres_location(location) else f"sqlite://{sqlite_path(location)}")
    queue.submit_signup("evt-2", "bravo", "business", "org_bravo", "slug: bravo\nplan: business\n", 3)
    queue.submit_signup("evt-1", "acme", "starter", "org_acme", "slug: acme\nplan: starter\n", 3, hold=True)
    assert declared_tenants(location) == [
        DeclaredTenant("acme", "starter", "slug: acme\nplan: starter\n", "awaiting-payment"),
        DeclaredTenant("bravo", "business", "slug: bravo\nplan: business\n", "queued"),
    ]


def test_a_database_the_service_never_opened_has_no_tenants(location: str) -> None:
    if not is_postgres_location(location):
        sqlite_path(location).touch()
    assert declared_tenants(location) == []


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "queue.sqlite"
    with pytest.raises(FileNotFoundError, match=r"queue\.sqlite"):
        declared_tenants(f"sqlite://{path}")
    assert not path.parent.exists()


def test_reading_never_writes(tmp_path: Path) -> None:
    """The file is opened read-only (``mode=ro``): not migrated, not changed."""
    path = tmp_path / "queue.sqlite"
    open_queue(f"sqlite://{path}").submit_signup("evt-1", "acme", "starter", "org_acme", "slug: acme\n", 3)
    before = path.read_bytes()
    engine = create_engine(path, read_only=True)
    with pytest.raises(OperationalError, match="readonly"):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM tenants"))
    engine.dispose()
    assert [t.slug for t in declared_tenants(f"sqlite://{path}")] == ["acme"]
    assert path.read_bytes() == before


def test_the_service_package_is_not_imported() -> None:
    code = "import sys, storage.tenants; print(sorted(m for m in sys.modules if m.split('.')[0] == 'service'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
