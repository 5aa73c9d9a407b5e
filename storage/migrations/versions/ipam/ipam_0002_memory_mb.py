"""Allocations record the memory they promise, so placement counts VMs not created yet.

The column was added inside ``CREATE TABLE IF NOT EXISTS``, so a database created by the first release
never got it (every allocation then failed); one created later already has it.

Revision ID: ipam_0002
Revises: ipam_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.migration_ops import add_column_if_absent

revision = "ipam_0002"
down_revision = "ipam_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_column_if_absent("allocation", sa.Column("memory_mb", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("allocation", "memory_mb")
