"""The durable record of per-run Dokploy keys: minted, and not yet known to be revoked.

A row is written right after a key is minted and removed once it is revoked. A revoke that failed
(Dokploy down at the end of a run) leaves the row marked ``revoke`` for the next sweep; a row still
``active`` long after any run could last belongs to a killed run. One SQLite file per environment,
owner-only, through :mod:`storage` (database ``keys``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from storage import open_database
from storage.schema.keys import run_key
from storage.statements import upsert

_COLUMNS = (
    run_key.c.key_id,
    run_key.c.name,
    run_key.c.stack,
    run_key.c.minted_at,
    run_key.c.state,
    run_key.c.attempts,
    run_key.c.last_error,
)


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
        self.path = Path(path)
        self._db = open_database(self.path, "keys")

    def __repr__(self) -> str:
        return f"KeyLedger({str(self.path)!r})"

    def minted(self, key_id: str, name: str, stack: str, minted_at: float | None = None) -> None:
        """Record a key the moment it exists."""
        with self._db.transaction(write=True) as db:
            upsert(
                db,
                run_key,
                {
                    "key_id": key_id,
                    "name": name,
                    "stack": stack,
                    "state": "active",
                    "attempts": 0,
                    "minted_at": time.time() if minted_at is None else minted_at,
                    "last_error": None,
                },
                key=["key_id"],
            )

    def revoked(self, key_id: str) -> None:
        """The key is gone from Dokploy: forget it."""
        with self._db.transaction(write=True) as db:
            db.execute(sa.delete(run_key).where(run_key.c.key_id == key_id))

    def revoke_failed(self, key_id: str, error: str) -> None:
        """Queue the key for a later revocation, with the reason (no secrets: Dokploy errors carry none)."""
        with self._db.transaction(write=True) as db:
            db.execute(
                sa.update(run_key)
                .where(run_key.c.key_id == key_id)
                .values(state="revoke", attempts=run_key.c.attempts + 1, last_error=error[:500])
            )

    def due(self, max_age: float, now: float | None = None) -> list[LedgerRow]:
        """Keys to revoke now: failed revocations, and keys of runs older than ``max_age`` (killed runs)."""
        cutoff = (time.time() if now is None else now) - max_age
        return self._rows(sa.or_(run_key.c.state == "revoke", run_key.c.minted_at < cutoff))

    def all(self) -> list[LedgerRow]:
        """Every key recorded (for operators and tests)."""
        return self._rows(sa.true())

    def _rows(self, where: sa.ColumnElement[bool]) -> list[LedgerRow]:
        with self._db.transaction() as db:
            rows = db.execute(sa.select(*_COLUMNS).where(where).order_by(run_key.c.minted_at)).all()
        return [LedgerRow(*row) for row in rows]
