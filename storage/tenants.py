"""The provisioning service's declared tenants, read without the service (for ``scripts/cloudctl``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from storage.engine import create_engine
from storage.schema.queue import tenants
from storage.transaction import transaction


@dataclass(frozen=True)
class DeclaredTenant:
    """One tenant as the service declared it."""

    slug: str
    plan: str
    declaration: str
    """The tenant file's YAML text, as the service applies it."""
    phase: str
    """The service's tenant phase (``queued``, ``ready``, ``decommissioned``...)."""


def service_database_url(env_name: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """``SERVICE_DATABASE_URL`` when the service it belongs to serves environment ``env_name`` (``SERVICE_ENV``,
    default ``local``); else None: that service's tenants are not this environment's."""
    url = environ.get("SERVICE_DATABASE_URL")
    return url if url and environ.get("SERVICE_ENV", "local") == env_name else None


def declared_tenants(database_url: str) -> list[DeclaredTenant]:
    """Every tenant in the service's database (``SERVICE_DATABASE_URL``), by slug; read-only.

    Nothing is created or migrated: a SQLite file that does not exist raises :class:`FileNotFoundError`,
    a database the service never opened (no tenants table) has no tenants.
    """
    engine = create_engine(database_url, read_only=True)
    try:
        with transaction(engine, unreachable="cannot connect to the service database (SERVICE_DATABASE_URL)") as conn:
            if not sa.inspect(conn).has_table(tenants.name):
                return []
            rows = conn.execute(
                sa.select(tenants.c.slug, tenants.c.plan, tenants.c.declaration, tenants.c.phase).order_by(
                    tenants.c.slug
                )
            ).all()
    finally:
        engine.dispose()
    return [DeclaredTenant(row.slug, row.plan, row.declaration, row.phase) for row in rows]
