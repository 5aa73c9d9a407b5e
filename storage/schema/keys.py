"""The Dokploy key ledger (SQLite, one file per environment): per-run keys minted and not yet revoked."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

run_key = sa.Table(
    "run_key",
    metadata,
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
