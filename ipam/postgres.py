"""Allocations in PostgreSQL, for workers on several hosts sharing the queue's database.

The same rows and rules as the SQLite store (:mod:`ipam.store`); allocators are
serialised by a table lock in ``SHARE ROW EXCLUSIVE`` mode (it conflicts with itself and with every
insert or delete, not with readers), and the UNIQUE constraints stay the safety net. Server-side
timeouts bound every statement and lock wait, so a stuck peer fails a run instead of hanging it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ipam.store import AllocationStore
from storage import PostgresTimeouts, open_database

TIMEOUTS = PostgresTimeouts(statement_ms=30000, lock_ms=30000, idle_in_transaction_ms=60000)
_LOCK_ALLOCATORS = sa.text("LOCK TABLE allocation IN SHARE ROW EXCLUSIVE MODE")


class PostgresAllocationStore(AllocationStore):
    """Allocations in a PostgreSQL database (``postgresql://user@host:port/db``), migrated when opened."""

    def __init__(self, url: str) -> None:
        super().__init__(
            open_database(
                url,
                "ipam",
                timeouts=TIMEOUTS,
                pooled=False,  # providers open a store per call: keep nothing idle
                unreachable="cannot connect to the allocation database (ALLOCATIONS_DB): "
                "check that PostgreSQL is up and the URL's host, port and user",
            )
        )

    def __repr__(self) -> str:
        return "PostgresAllocationStore(<url hidden>)"

    def lock_allocators(self, tx: Connection) -> None:
        """Hold the allocators' table lock until commit."""
        tx.execute(_LOCK_ALLOCATORS)
