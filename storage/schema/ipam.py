"""The allocation database: one row per tenant server, ``(pool, owner) -> (vmid, address, node)``."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

allocation = sa.Table(
    "allocation",
    metadata,
    sa.Column("pool", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, primary_key=True),
    sa.Column("vmid", sa.Integer, nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("node", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("pool", "vmid"),
    sa.UniqueConstraint("pool", "address"),
)
