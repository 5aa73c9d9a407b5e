"""With a PostgreSQL queue the allocations live there too (one store for every host); SQLite stays embedded."""

from __future__ import annotations

import pytest

from service.settings import SettingsError, load_settings

BASE = {"SERVICE_HMAC_SECRET": "h" * 16, "SERVICE_OPERATOR_TOKEN": "o" * 16}
PG = "postgresql://svc:dbpassword@db.internal:5432/cloud"


def test_postgres_queue_shares_its_database_with_allocations() -> None:
    settings = load_settings({**BASE, "SERVICE_DATABASE_URL": PG})
    assert settings.allocations_db == PG
    assert "dbpassword" not in repr(settings)
    other = "postgresql://alloc@db2.internal/alloc"
    assert load_settings({**BASE, "SERVICE_DATABASE_URL": PG, "ALLOCATIONS_DB": other}).allocations_db == other


def test_postgres_queue_refuses_a_host_local_allocation_file() -> None:
    with pytest.raises(SettingsError, match="ALLOCATIONS_DB must be a postgresql:// URL") as err:
        load_settings({**BASE, "SERVICE_DATABASE_URL": PG, "ALLOCATIONS_DB": "/var/lib/cloud/allocations.sqlite"})
    assert "dbpassword" not in str(err.value)


def test_sqlite_queue_keeps_the_embedded_default() -> None:
    assert load_settings(BASE).allocations_db is None
    assert load_settings({**BASE, "ALLOCATIONS_DB": "/tmp/a.sqlite"}).allocations_db == "/tmp/a.sqlite"
