"""A checkout session remembers the Dokploy organization it was created for.

The column was added inside ``CREATE TABLE IF NOT EXISTS``, so a billing file whose sessions table
predates it never got it (every checkout then failed to record); one created later already has it.

Revision ID: billing_0004
Revises: billing_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migration_ops import add_column_if_absent

revision = "billing_0004"
down_revision = "billing_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_column_if_absent("billing_checkout_sessions", sa.Column("organization_id", sa.Text))


def downgrade() -> None:
    op.drop_column("billing_checkout_sessions", "organization_id")
