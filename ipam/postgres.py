"""Allocations in PostgreSQL, for workers on several hosts sharing the queue's database.

The same rows and rules as the SQLite store (:mod:`ipam.store`); allocators are
serialised by a table lock in ``SHARE ROW EXCLUSIVE`` mode (it conflicts with itself and with every
insert or delete, not with readers), and the UNIQUE constraints stay the safety net. Server-side
timeouts bound every statement and lock wait, so a stuck peer fails a run instead of hanging it.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg

from ipam.store import TABLE_DDL, AllocationStore, Cursor

SCHEMA = TABLE_DDL.format(float_type="DOUBLE PRECISION")
SCHEMA_LOCK = 7245002  # advisory lock: one schema creator at a time (the queue uses 7245001)
CONNECT_TIMEOUT_SECONDS = 5
CONNECT_ATTEMPTS = 3
SESSION_OPTIONS = "-c statement_timeout=30000 -c lock_timeout=30000 -c idle_in_transaction_session_timeout=60000"


class PostgresAllocationStore(AllocationStore):
    """Allocations in a PostgreSQL database (``postgresql://user@host:port/db``); a connection per call."""

    def __init__(self, url: str) -> None:
        self._url = url
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            tx.execute(SCHEMA)

    def __repr__(self) -> str:
        return "PostgresAllocationStore(<url hidden>)"

    def _connect(self) -> psycopg.Connection[Any]:
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                return psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True,
                                       options=SESSION_OPTIONS)
            except psycopg.OperationalError:
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise ConnectionError("cannot connect to the allocation database (ALLOCATIONS_DB): "
                                          "check that PostgreSQL is up and the URL's host, port and user") from None
                time.sleep(0.2 * 2 ** attempt)
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Cursor]:
        """A transaction on a fresh connection; writers hold the allocators' table lock until commit."""
        with self._connect() as conn, conn.transaction(), conn.cursor() as cur:
            tx = Cursor(cur, "%s")
            if write:
                tx.execute("LOCK TABLE allocation IN SHARE ROW EXCLUSIVE MODE")
            yield tx
