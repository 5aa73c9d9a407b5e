"""Job parameters: what a backup, restore or undelete job is asked to do (JSON; ``{}`` for the others).

Revision ID: queue_0003
Revises: queue_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "queue_0003"
down_revision = "queue_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("params", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("params")
