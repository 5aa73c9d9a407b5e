"""Billing baseline: processed events, per-tenant state, customer bindings and the action outbox.

Revision ID: billing_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "billing_0001"
down_revision = None
branch_labels = ("billing",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text),
        sa.Column("received_at", sa.Double, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_table(
        "billing_tenants",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
    )
    op.create_table(
        "billing_customers",
        sa.Column("customer", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
    )
    op.create_table(
        "billing_actions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("done_at", sa.Double),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    for table in ("billing_actions", "billing_customers", "billing_tenants", "billing_events"):
        op.drop_table(table)
