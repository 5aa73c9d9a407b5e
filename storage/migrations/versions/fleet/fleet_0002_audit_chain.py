"""Audit records are hash-chained: ``prev_hash`` and ``hash`` per record, filled in for records already there.

Revision ID: fleet_0002
Revises: fleet_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from provisioning.audit_chain import GENESIS, record_hash

revision = "fleet_0002"
down_revision = "fleet_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("prev_hash", sa.Text))
    op.add_column("audit_event", sa.Column("hash", sa.Text))
    conn = op.get_bind()
    table = sa.table(
        "audit_event",
        *(sa.column(name) for name in ("id", "at", "env", "actor", "action", "tenant", "subject", "outcome")),
        *(sa.column(name) for name in ("detail", "request_id", "prev_hash", "hash")),
    )
    heads: dict[str, str] = {}
    for row in conn.execute(sa.select(table).order_by(table.c.id)).mappings().all():
        prev = heads.get(row["env"], GENESIS)
        digest = record_hash(dict(row), prev)
        conn.execute(table.update().where(table.c.id == row["id"]).values(prev_hash=prev, hash=digest))
        heads[row["env"]] = digest


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
