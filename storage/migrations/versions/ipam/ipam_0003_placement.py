"""Placement across nodes: allocations record the cores, disk and the placer's decision; nodes can be drained.

Revision ID: ipam_0003
Revises: ipam_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ipam_0003"
down_revision = "ipam_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("allocation") as batch:
        batch.add_column(sa.Column("cores", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("disk_gb", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("placement", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "node_mark",
        sa.Column("pool", sa.Text, primary_key=True),
        sa.Column("node", sa.Text, primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("node_mark")
    with op.batch_alter_table("allocation") as batch:
        batch.drop_column("placement")
        batch.drop_column("disk_gb")
        batch.drop_column("cores")
