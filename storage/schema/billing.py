"""The billing database (SQLite): processed Stripe events, per-tenant state, customer bindings, the action
outbox, checkout sessions the service created, and suspension timers."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

events = sa.Table(
    "billing_events",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text),
    sa.Column("received_at", sa.Double, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)
tenants = sa.Table(
    "billing_tenants",
    metadata,
    sa.Column("tenant", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
)
customers = sa.Table(
    "billing_customers",
    metadata,
    sa.Column("customer", sa.Text, primary_key=True),
    sa.Column("tenant", sa.Text, nullable=False),
)
actions = sa.Table(
    "billing_actions",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("done_at", sa.Double),
    sqlite_autoincrement=True,
)
checkout_sessions = sa.Table(
    "billing_checkout_sessions",
    metadata,
    sa.Column("session_id", sa.Text, primary_key=True),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("organization_id", sa.Text),
    sa.Column("created_at", sa.Double, nullable=False),
)
suspensions = sa.Table(
    "billing_suspensions",
    metadata,
    sa.Column("tenant", sa.Text, primary_key=True),
    sa.Column("not_before", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("executed_at", sa.Double),
)
