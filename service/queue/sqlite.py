"""The embedded queue: one SQLite file in WAL mode, nothing to install.

Claims, submissions and finishes take SQLite's write lock up front (``BEGIN IMMEDIATE``), so the
processes sharing the file on one machine serialise exactly where it matters; reads run concurrently.
"""

from __future__ import annotations

from pathlib import Path

from service.queue.sql import SqlQueue
from storage import open_database

BUSY_TIMEOUT_SECONDS = 15.0


class SqliteQueue(SqlQueue):
    """The queue in one SQLite file (``sqlite:///path``), owner-only, migrated when opened."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(open_database(self.path, "queue", busy_timeout=BUSY_TIMEOUT_SECONDS))

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r})"
