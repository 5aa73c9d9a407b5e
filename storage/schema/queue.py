"""The service's queue database: jobs, tenants, seen events, and the usage records (SQLite or PostgreSQL).

``tenants_one_per_organization`` is not created by a migration: the queue creates it when it opens, once
no two live tenants share an organization (see ``SqlQueue.guard_organizations``).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
_Seconds = sa.Double
"""Epoch seconds (``REAL`` on SQLite, ``DOUBLE PRECISION`` on PostgreSQL)."""

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    sa.Column("run_after", _Seconds, nullable=False),
    sa.Column("created_at", _Seconds, nullable=False),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_expires", _Seconds),
    sa.Column("started_at", _Seconds),
    sa.Column("finished_at", _Seconds),
    sa.Column("error", sa.Text),
    sa.Column("current_phase", sa.Text),
    sa.Column("phases", sa.Text, nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text),
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),
    sqlite_autoincrement=True,  # seq is never reused: it orders a tenant's jobs
)
RUNNING_ONLY = sa.text("state = 'running'")
sa.Index(
    "jobs_one_running_per_tenant", jobs.c.slug, unique=True, sqlite_where=RUNNING_ONLY, postgresql_where=RUNNING_ONLY
)
sa.Index("jobs_by_state", jobs.c.state, jobs.c.run_after)
sa.Index("jobs_by_slug", jobs.c.slug, jobs.c.state)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("organization_id", sa.Text, nullable=False),
    sa.Column("declaration", sa.Text, nullable=False),
    sa.Column("phase", sa.Text, nullable=False),
    sa.Column("created_at", _Seconds, nullable=False),
    sa.Column("updated_at", _Seconds, nullable=False),
    sa.Column("ready_at", _Seconds),
    sa.Column("last_job_id", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("outputs", sa.Text, nullable=False),
)
LIVE_TENANT = sa.text("phase NOT IN ('decommissioned', 'cancelled')")
"""Tenants that hold their slug and their Dokploy organization."""
one_tenant_per_organization = sa.Index(
    "tenants_one_per_organization",
    tenants.c.organization_id,
    unique=True,
    sqlite_where=LIVE_TENANT,
    postgresql_where=LIVE_TENANT,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("job_id", sa.Text, nullable=False),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("created_at", _Seconds, nullable=False),
)

usage_changes = sa.Table(
    "usage_changes",
    metadata,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("slug", sa.Text, nullable=False),
    sa.Column("at", _Seconds, nullable=False),
    sa.Column("plan", sa.Text, nullable=False),
    sa.Column("vms", sa.Integer, nullable=False),
)
sa.Index("usage_changes_by_time", usage_changes.c.at)

usage_reports = sa.Table(
    "usage_reports",
    metadata,
    sa.Column("slug", sa.Text, primary_key=True),
    sa.Column("plan", sa.Text, primary_key=True),
    sa.Column("window_start", sa.BigInteger, primary_key=True),
    sa.Column("vm_hours", sa.Integer, nullable=False),
    sa.Column("customer", sa.Text),
    sa.Column("reported_at", _Seconds, nullable=False),
)

usage_watermark = sa.Table(
    "usage_watermark",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("next_window", sa.BigInteger, nullable=False),
    sa.Column("last_success", _Seconds),
)
