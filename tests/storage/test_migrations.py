"""Every database migrates itself when opened: a fresh one gets exactly the tables in ``storage.schema``; one
created by the hand-written DDL of any earlier release is stamped and upgraded in place, keeping its rows."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from billing.adapter.store import BillingStore
from billing.config import BillingConfig
from ipam.store import PoolSpec, open_store
from service.queue import open_queue
from storage import migrate, open_database
from storage.engine import create_engine, sqlite_path
from tests.storage import legacy_ddl

SPEC = PoolSpec(vmid_start=1000, vmid_end=1999, network="10.77.0.0/24", gateway="10.77.0.1", reserved=10)
DATABASES = sorted(migrate.SCHEMAS)


def run_legacy_ddl(location: str, ddl: str) -> None:
    """Create tables the way the stores did before Alembic (no version table)."""
    if location.startswith("postgresql://"):
        with psycopg.connect(location, autocommit=True) as conn:
            for statement in filter(str.strip, ddl.split(";")):
                conn.execute(statement.encode())
    else:
        path = sqlite_path(location)
        path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(path) as db:
            db.executescript(ddl)
        db.close()


def run_sql(location: str, statement: str, params: dict[str, Any] | None = None) -> list[Any]:
    """One statement outside the storage layer; its rows (if any)."""
    engine = create_engine(location)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(statement), params or {})
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def columns(location: str) -> dict[str, set[tuple[str, bool]]]:
    """Every table's (column, nullable), version tables left out.

    Primary-key columns count as not nullable: SQLite lets the old DDL's ``TEXT PRIMARY KEY`` hold NULL,
    which no store ever wrote.
    """
    engine = create_engine(location)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            found = {}
            for table in inspector.get_table_names():
                if table.startswith("alembic_version"):
                    continue
                key = set(inspector.get_pk_constraint(table)["constrained_columns"])
                found[table] = {
                    (c["name"], bool(c["nullable"]) and c["name"] not in key) for c in inspector.get_columns(table)
                }
            return found
    finally:
        engine.dispose()


def revision(location: str, name: str) -> str | None:
    engine = create_engine(location)
    try:
        with engine.connect() as conn:
            return migrate.current(conn, migrate.SCHEMAS[name])
    finally:
        engine.dispose()


def fresh_columns(tmp_path: Path, name: str) -> dict[str, set[tuple[str, bool]]]:
    location = f"sqlite://{tmp_path / f'fresh-{name}.sqlite'}"
    open_database(location, name)
    return columns(location)


@pytest.mark.parametrize("name", DATABASES)
def test_a_fresh_database_gets_exactly_the_declared_tables(location: str, name: str) -> None:
    database = open_database(location, name)
    assert revision(location, name) == migrate.head(name)
    with database.transaction() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), migrate.SCHEMAS[name].metadata)
    other_databases = {t.name for s in migrate.SCHEMAS.values() if s.name != name for t in s.metadata.sorted_tables}
    differences = [
        d
        for d in differences
        if not (d[0] == "add_index" and d[1].name == "tenants_one_per_organization")  # the queue's guard
        and not (d[0] == "remove_table" and (d[1].name in other_databases or d[1].name.startswith("alembic_version_")))
    ]
    assert differences == []


def test_databases_sharing_one_postgresql_database_keep_separate_histories(pg_cluster: Any) -> None:
    url = pg_cluster.create_database("shared_queue_ipam")
    open_queue(url)
    open_store(url)
    assert revision(url, "queue") == migrate.head("queue") and revision(url, "ipam") == migrate.head("ipam")
    assert {"jobs", "allocation"} <= set(columns(url))


def test_a_queue_created_by_the_old_ddl_is_stamped_and_keeps_its_jobs(location: str, tmp_path: Path) -> None:
    postgres = location.startswith("postgresql://")
    run_legacy_ddl(location, legacy_ddl.QUEUE_POSTGRES if postgres else legacy_ddl.QUEUE_SQLITE)
    run_sql(
        location,
        "INSERT INTO tenants (slug, plan, organization_id, declaration, phase, created_at, updated_at, "
        "outputs) VALUES ('acme', 'starter', 'org_acme', 'slug: acme', 'ready', 1, 1, '{}')",
    )
    queue = open_queue(location if postgres else f"sqlite://{sqlite_path(location)}")
    assert revision(location, "queue") == migrate.head("queue")
    assert [(t.slug, t.phase) for t in queue.list_tenants()] == [("acme", "ready")]
    assert queue.submit_signup("evt-1", "bravo", "starter", "org_bravo", "slug: bravo", 3).created
    if not postgres:
        assert columns(location) == fresh_columns(tmp_path, "queue")


def test_a_first_release_queue_gets_the_usage_tables(tmp_path: Path) -> None:
    location = f"sqlite://{tmp_path / 'queue.sqlite'}"
    run_legacy_ddl(location, legacy_ddl.QUEUE_SQLITE_FIRST)
    open_queue(location)
    assert revision(location, "queue") == migrate.head("queue")
    assert columns(location) == fresh_columns(tmp_path, "queue")


@pytest.mark.parametrize("ddl", [legacy_ddl.IPAM_FIRST, legacy_ddl.IPAM], ids=["first-release", "last-ddl"])
def test_an_allocation_store_from_before_alembic_is_upgraded_in_place(location: str, tmp_path: Path, ddl: str) -> None:
    """The first release had no ``memory_mb`` (added inside CREATE TABLE IF NOT EXISTS, so it never arrived):
    the migration adds it, existing rows promise 0 MiB, and allocating works again."""
    postgres = location.startswith("postgresql://")
    run_legacy_ddl(location, ddl.format(float_type="DOUBLE PRECISION" if postgres else "REAL"))
    run_sql(
        location,
        "INSERT INTO allocation (pool, owner, vmid, address, node, created_at) "
        "VALUES ('local/pve-eu1', 'old/0', 1000, '10.77.0.11', 'pve1', 1)",
    )
    store = open_store(location)
    assert revision(location, "ipam") == migrate.head("ipam")
    assert [a.owner for a in store.all("local/pve-eu1")] == ["old/0"]
    made = store.allocate(
        "local/pve-eu1", "new/0", SPEC, lambda promised: min(promised.memory_mb, default="pve1"), memory_mb=2048
    )
    assert (made.vmid, made.address) == (1001, "10.77.0.12")
    assert run_sql(location, "SELECT owner, memory_mb FROM allocation ORDER BY vmid") == [("old/0", 0), ("new/0", 2048)]
    if not postgres:
        assert columns(location) == fresh_columns(tmp_path, "ipam")


@pytest.mark.parametrize(
    "ddl",
    [legacy_ddl.BILLING_FIRST, legacy_ddl.BILLING_FIRST + legacy_ddl.BILLING_SESSIONS_FIRST, legacy_ddl.BILLING],
    ids=["first-release", "sessions-without-organization", "last-ddl"],
)
def test_a_billing_file_from_before_alembic_is_upgraded_in_place(tmp_path: Path, ddl: str) -> None:
    path = tmp_path / "billing.sqlite"
    run_legacy_ddl(str(path), ddl)
    run_sql(str(path), "INSERT INTO billing_tenants VALUES ('acme', '{\"tenant\": \"acme\"}')")
    store = BillingStore(path, BillingConfig(prices={}))
    assert revision(str(path), "billing") == migrate.head("billing")
    store.record_session("cs_1", "acme", "org_acme")  # the column the sessions table lacked at first
    assert store.session_tenant("cs_1") == "acme" and store.state("acme").tenant == "acme"
    assert columns(str(path)) == fresh_columns(tmp_path, "billing")


def test_a_key_ledger_from_before_alembic_is_stamped(tmp_path: Path) -> None:
    from provisioning.key_ledger import KeyLedger

    path = tmp_path / "keys.sqlite"
    run_legacy_ddl(str(path), legacy_ddl.KEYS)
    run_sql(
        str(path),
        "INSERT INTO run_key (key_id, name, stack, minted_at, state) "
        "VALUES ('k1', 'dcrun:local:1', 'local.acme', 1, 'revoke')",
    )
    ledger = KeyLedger(path)
    assert revision(str(path), "keys") == migrate.head("keys")
    assert [(r.key_id, r.state, r.attempts) for r in ledger.all()] == [("k1", "revoke", 0)]
    assert columns(str(path)) == fresh_columns(tmp_path, "keys")


def test_opening_a_current_database_changes_nothing(location: str) -> None:
    open_database(location, "queue")
    before = columns(location)
    started = time.monotonic()
    open_database(location, "queue")
    assert columns(location) == before and revision(location, "queue") == migrate.head("queue")
    assert time.monotonic() - started < 5


def _open(args: tuple[str, str]) -> str | None:
    location, name = args
    open_database(location, name)
    return revision(location, name)


@pytest.mark.parametrize("name", ["queue", "ipam"])
def test_concurrent_openers_migrate_once(location: str, name: str) -> None:
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        revisions = pool.map(_open, [(location, name)] * 4)
    assert revisions == [migrate.head(name)] * 4


NEXT_REVISION = '''"""A column added after the move to Alembic (what ``python -m storage new`` starts).

Revision ID: queue_0004
Revises: queue_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "queue_0004"
down_revision = "queue_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("note", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("tenants", "note")
'''


def test_a_new_revision_adds_its_column_to_an_existing_database(
    location: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How a column is added from now on: a new revision on the database's branch, applied when stores open."""
    queue_url = location if location.startswith("postgresql://") else f"sqlite://{sqlite_path(location)}"
    open_queue(queue_url).submit_signup("evt-1", "acme", "starter", "org_acme", "slug: acme", 3)
    assert revision(location, "queue") == "queue_0003"
    migrations = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "queue" / "queue_0004_tenant_note.py").write_text(NEXT_REVISION)
    monkeypatch.setattr(migrate, "MIGRATIONS", migrations)
    migrate.head.cache_clear()
    try:
        queue = open_queue(queue_url)
        assert revision(location, "queue") == "queue_0004"
        assert ("note", False) in columns(location)["tenants"]
        assert run_sql(location, "SELECT slug, note FROM tenants") == [("acme", "")]
        assert [t.slug for t in queue.list_tenants()] == ["acme"]
    finally:
        monkeypatch.undo()
        migrate.head.cache_clear()
