"""Usage records: what ran when, what was reported, how far reporting got (added before Alembic, so a
database of that era may have them already).

Revision ID: queue_0002
Revises: queue_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migration_ops import create_table_if_absent

revision = "queue_0002"
down_revision = "queue_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if create_table_if_absent(
        "usage_changes",
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("slug", sa.Text, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("plan", sa.Text, nullable=False),
        sa.Column("vms", sa.Integer, nullable=False),
    ):
        op.create_index("usage_changes_by_time", "usage_changes", ["at"])
    create_table_if_absent(
        "usage_reports",
        sa.Column("slug", sa.Text, primary_key=True),
        sa.Column("plan", sa.Text, primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("vm_hours", sa.Integer, nullable=False),
        sa.Column("customer", sa.Text),
        sa.Column("reported_at", sa.Double, nullable=False),
    )
    create_table_if_absent(
        "usage_watermark",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("next_window", sa.BigInteger, nullable=False),
        sa.Column("last_success", sa.Double),
    )


def downgrade() -> None:
    op.drop_table("usage_watermark")
    op.drop_table("usage_reports")
    op.drop_table("usage_changes")
