"""Checkout sessions the service created (they bind a tenant to its Stripe customer), added before Alembic.

Revision ID: billing_0003
Revises: billing_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migration_ops import create_table_if_absent

revision = "billing_0003"
down_revision = "billing_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table_if_absent(
        "billing_checkout_sessions",
        sa.Column("session_id", sa.Text, primary_key=True),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("billing_checkout_sessions")
