"""Allocation baseline: one row per tenant server (the schema of the first release, before ``memory_mb``).

Revision ID: ipam_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ipam_0001"
down_revision = None
branch_labels = ("ipam",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allocation",
        sa.Column("pool", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, primary_key=True),
        sa.Column("vmid", sa.Integer, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("node", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.UniqueConstraint("pool", "vmid"),
        sa.UniqueConstraint("pool", "address"),
    )


def downgrade() -> None:
    op.drop_table("allocation")
