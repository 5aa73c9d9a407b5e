"""Key ledger baseline: per-run Dokploy keys minted and not yet known to be revoked.

Revision ID: keys_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "keys_0001"
down_revision = None
branch_labels = ("keys",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_key",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("stack", sa.Text, nullable=False),
        sa.Column("minted_at", sa.Double, nullable=False),
        sa.Column(
            "state", sa.Text, sa.CheckConstraint("state IN ('active', 'revoke')", name="run_key_state"), nullable=False
        ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("run_key")
