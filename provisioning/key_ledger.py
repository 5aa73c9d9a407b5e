"""The durable record of per-run Dokploy keys: minted, and not yet known to be revoked.

A row is written right after a key is minted and removed once it is revoked. A revoke that failed
(Dokploy down at the end of a run) leaves the row marked ``revoke`` for the next sweep; a row still
``active`` long after any run could last belongs to a killed run. One SQLite file per environment,
owner-only (:mod:`provisioning.private_files`).
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager

from billing.adapter.sqlite_tx import immediate_transaction
from provisioning.private_files import private_sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS run_key (
  key_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  stack TEXT NOT NULL,
  minted_at REAL NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'revoke')),
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT
)
"""


@dataclass(frozen=True)
class LedgerRow:
    """One per-run key the ledger knows about (never its plaintext)."""

    key_id: str
    name: str
    stack: str
    minted_at: float
    state: str
    attempts: int
    last_error: str | None


class KeyLedger:
    """Per-run keys in one SQLite file; safe for concurrent processes on one host."""

    def __init__(self, path: str | Path) -> None:
        self.path = private_sqlite(path)
        with self._tx() as db:
            db.execute(SCHEMA)

    def _tx(self) -> ContextManager[sqlite3.Connection]:
        return immediate_transaction(self.path)

    def minted(self, key_id: str, name: str, stack: str, minted_at: float | None = None) -> None:
        """Record a key the moment it exists."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO run_key (key_id, name, stack, minted_at, state) VALUES (?, ?, ?, ?, 'active')",
                       (key_id, name, stack, time.time() if minted_at is None else minted_at))

    def revoked(self, key_id: str) -> None:
        """The key is gone from Dokploy: forget it."""
        with self._tx() as db:
            db.execute("DELETE FROM run_key WHERE key_id = ?", (key_id,))

    def revoke_failed(self, key_id: str, error: str) -> None:
        """Queue the key for a later revocation, with the reason (no secrets: Dokploy errors carry none)."""
        with self._tx() as db:
            db.execute("UPDATE run_key SET state = 'revoke', attempts = attempts + 1, last_error = ? WHERE key_id = ?",
                       (error[:500], key_id))

    def due(self, max_age: float, now: float | None = None) -> list[LedgerRow]:
        """Keys to revoke now: failed revocations, and keys of runs older than ``max_age`` (killed runs)."""
        cutoff = (time.time() if now is None else now) - max_age
        with self._tx() as db:
            rows = db.execute("SELECT key_id, name, stack, minted_at, state, attempts, last_error FROM run_key "
                              "WHERE state = 'revoke' OR minted_at < ? ORDER BY minted_at", (cutoff,)).fetchall()
        return [LedgerRow(*row) for row in rows]

    def all(self) -> list[LedgerRow]:
        """Every key recorded (for operators and tests)."""
        with self._tx() as db:
            rows = db.execute("SELECT key_id, name, stack, minted_at, state, attempts, last_error FROM run_key "
                              "ORDER BY minted_at").fetchall()
        return [LedgerRow(*row) for row in rows]
