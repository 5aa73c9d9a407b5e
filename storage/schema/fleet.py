"""The fleet database: the audit trail of fleet-changing actions and the stored reconcile reports.

Shared by cloudctl and the service (``FLEET_DB``; by default the allocations' PostgreSQL database when that
is PostgreSQL, else a SQLite file next to the allocations), so a fix applied from either shows in one trail.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

audit_event = sa.Table(
    "audit_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("env", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Column("request_id", sa.Text),
    sa.Column("prev_hash", sa.Text),
    sa.Column("hash", sa.Text),
)
"""Hash-chained per environment (:mod:`provisioning.audit_chain`): ``hash`` covers the record and ``prev_hash``."""

reconcile_report = sa.Table(
    "reconcile_report",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("env", sa.Text, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("report", sa.Text, nullable=False),
)
