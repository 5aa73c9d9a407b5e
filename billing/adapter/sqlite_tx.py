"""One SQLite write transaction per call: ``BEGIN IMMEDIATE`` serialises writers across processes."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def immediate_transaction(path: str | Path, timeout: float = 30.0) -> Iterator[sqlite3.Connection]:
    """A connection inside ``BEGIN IMMEDIATE``; committed on success, rolled back on any exception."""
    db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.close()
