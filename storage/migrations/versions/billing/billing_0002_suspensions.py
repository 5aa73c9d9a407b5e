"""Suspension timers (the grace period before a suspension), added before Alembic.

Revision ID: billing_0002
Revises: billing_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migration_ops import create_table_if_absent

revision = "billing_0002"
down_revision = "billing_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_table_if_absent(
        "billing_suspensions",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("not_before", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("executed_at", sa.Double),
    )


def downgrade() -> None:
    op.drop_table("billing_suspensions")
