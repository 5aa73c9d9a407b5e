"""The allocation database: one row per tenant server, ``(pool, owner) -> (vmid, address, node)``, and the nodes
an operator marked unschedulable."""

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
    sa.Column("cores", sa.Integer, nullable=False, server_default="0"),
    sa.Column("disk_gb", sa.Integer, nullable=False, server_default="0"),
    # The placer's decision as JSON (ipam.placement.Decision); empty for allocations made before it was recorded.
    sa.Column("placement", sa.Text, nullable=False, server_default=""),
    sa.UniqueConstraint("pool", "vmid"),
    sa.UniqueConstraint("pool", "address"),
)

node_mark = sa.Table(
    "node_mark",
    metadata,
    sa.Column("pool", sa.Text, primary_key=True),
    sa.Column("node", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),  # why no new VM may land there (cloudctl drain)
    sa.Column("since", sa.Double, nullable=False),
)
