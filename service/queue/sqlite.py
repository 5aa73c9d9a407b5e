"""The embedded queue: one SQLite file in WAL mode, nothing to install.

Claims, submissions and finishes take SQLite's write lock up front (``BEGIN IMMEDIATE``), so the
processes sharing the file on one machine serialise exactly where it matters; reads run concurrently.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from provisioning.private_files import private_sqlite

from service.queue.sql import SqlQueue, Tx
from service.queue.usage import SCHEMA as USAGE_SCHEMA

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, slug TEXT NOT NULL, kind TEXT NOT NULL,
  operation TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
  run_after REAL NOT NULL, created_at REAL NOT NULL, lease_owner TEXT, lease_expires REAL, started_at REAL,
  finished_at REAL, error TEXT, current_phase TEXT, phases TEXT NOT NULL, outputs TEXT NOT NULL, event_id TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_tenant ON jobs (slug) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, run_after);
CREATE INDEX IF NOT EXISTS jobs_by_slug ON jobs (slug, state);
CREATE TABLE IF NOT EXISTS tenants (
  slug TEXT PRIMARY KEY, plan TEXT NOT NULL, organization_id TEXT NOT NULL, declaration TEXT NOT NULL,
  phase TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL, ready_at REAL, last_job_id TEXT,
  last_error TEXT, outputs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, slug TEXT NOT NULL, created_at REAL NOT NULL);
"""
BUSY_TIMEOUT_SECONDS = 15.0


class SqliteQueue(SqlQueue):
    """The queue in one SQLite file (``sqlite:///path``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        private_sqlite(self.path)
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA + USAGE_SCHEMA)
        with self.transaction(write=True) as tx:
            self.guard_organizations(tx)

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                               check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Tx]:
        """A transaction on a fresh connection; writers take the lock at BEGIN (no upgrade deadlocks)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Tx(conn.cursor(), "?")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            conn.close()

    def now(self, tx: Tx) -> float:
        """The local clock: every process sharing the file is on this machine."""
        return time.time()

    def is_unique_violation(self, exc: Exception) -> bool:
        """SQLite reports duplicate keys as IntegrityError."""
        return isinstance(exc, sqlite3.IntegrityError)
