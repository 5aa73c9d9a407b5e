"""Alembic migrations, run programmatically whenever a database is opened (``upgrade <name>@head``).

Each database has its own branch (label = its name, revisions in ``migrations/versions/<name>/``) and its
own version table (``alembic_version_<name>``), so the queue and the allocations can share one PostgreSQL
database without sharing a history. Opening is cheap when the database is current (one read of the version
table); otherwise the upgrade runs in one write transaction that also holds the migration lock (SQLite's
write lock, a PostgreSQL advisory lock), so concurrent openers migrate once and the others wait.

A database created by the hand-written DDL that came before (tables present, no version table) is
stamped at its baseline and upgraded from there; the revisions of that era add only what is missing.

``python -m storage new <database> "<message>"`` writes a new revision file on that branch.
"""

from __future__ import annotations

import argparse
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from storage.schema import billing, fleet, ipam, keys, queue
from storage.transaction import transaction

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Schema:
    """One database's migration settings."""

    name: str
    metadata: sa.MetaData
    legacy_table: str
    """A table every database of the pre-Alembic era has: present without a version table means stamp."""
    lock_key: int
    """PostgreSQL advisory lock held while migrating (one migrator at a time per database)."""

    @property
    def version_table(self) -> str:
        """Where Alembic records this database's revision."""
        return f"alembic_version_{self.name}"

    @property
    def baseline(self) -> str:
        """The first revision on this database's branch."""
        return f"{self.name}_0001"


SCHEMAS = {
    s.name: s
    for s in (
        Schema("queue", queue.metadata, "jobs", 7245001),
        Schema("ipam", ipam.metadata, "allocation", 7245002),
        Schema("billing", billing.metadata, "billing_events", 7245003),
        Schema("keys", keys.metadata, "run_key", 7245004),
        Schema("fleet", fleet.metadata, "audit_event", 7245005),
    )
}


def alembic_config(schema: Schema, connection: Connection | None = None) -> Config:
    """A programmatic Alembic configuration for ``schema`` (no ini file), bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    branches = (str(MIGRATIONS / "versions" / name) for name in SCHEMAS)
    config.set_main_option("version_locations", os.pathsep.join(branches))
    config.attributes.update(connection=connection, version_table=schema.version_table, metadata=schema.metadata)
    return config


@functools.cache
def head(name: str) -> str:
    """The newest revision of database ``name``."""
    script = ScriptDirectory.from_config(alembic_config(SCHEMAS[name]))
    revision = script.get_revision(f"{name}@head")
    assert revision is not None, f"no migrations for database {name!r}"
    return revision.revision


def current(connection: Connection, schema: Schema) -> str | None:
    """The revision the database is at (None: never migrated)."""
    context = MigrationContext.configure(connection, opts={"version_table": schema.version_table})
    return context.get_current_revision()


def upgrade(engine: Engine, name: str, unreachable: str = "cannot connect to the database") -> None:
    """Bring database ``name`` at ``engine`` to its newest revision (stamping a pre-Alembic database first)."""
    schema = SCHEMAS[name]
    with transaction(engine, unreachable=unreachable) as conn:
        if current(conn, schema) == head(name):
            return
    with transaction(engine, write=True, unreachable=unreachable) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(schema.lock_key)))
        at = current(conn, schema)
        if at == head(name):
            return  # another process migrated while we waited for the lock
        config = alembic_config(schema, conn)
        if at is None and sa.inspect(conn).has_table(schema.legacy_table):
            command.stamp(config, schema.baseline)
        command.upgrade(config, f"{name}@head")


def new_revision(name: str, message: str) -> None:
    """Write an empty revision file on database ``name``'s branch, after its current head."""
    schema = SCHEMAS[name]
    command.revision(
        alembic_config(schema),
        message=message,
        head=f"{name}@head",
        version_path=str(MIGRATIONS / "versions" / name),
        rev_id=_next_id(name),
    )


def _next_id(name: str) -> str:
    number = int(head(name).rsplit("_", 1)[1]) + 1
    return f"{name}_{number:04d}"


def main(argv: list[str] | None = None) -> None:
    """``new <database> <message>``: start a migration (then edit its ``upgrade``/``downgrade``)."""
    parser = argparse.ArgumentParser(prog="python -m storage", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="write a new revision file")
    new.add_argument("database", choices=sorted(SCHEMAS))
    new.add_argument("message")
    args = parser.parse_args(argv)
    new_revision(args.database, args.message)


if __name__ == "__main__":
    main()
