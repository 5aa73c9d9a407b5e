"""An opened database: its engine, migrated to the newest revision, and transactions on it."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from storage import migrate
from storage.engine import PostgresTimeouts, create_engine
from storage.transaction import transaction


@dataclass(frozen=True)
class Database:
    """One database (SQLite file or PostgreSQL) of a known schema; its ``repr`` never shows the location."""

    engine: Engine = field(repr=False)
    name: str
    unreachable: str = field(repr=False, default="cannot connect to the database")
    """The :class:`ConnectionError` message when PostgreSQL cannot be reached (names the setting to check)."""

    @property
    def is_postgres(self) -> bool:
        """Whether this is PostgreSQL (else SQLite)."""
        return self.engine.dialect.name == "postgresql"

    def transaction(self, write: bool = False) -> AbstractContextManager[Connection]:
        """A transaction (see :func:`storage.transaction.transaction`)."""
        return transaction(self.engine, write, self.unreachable)

    def now(self, conn: Connection) -> float:
        """The clock every user of the database agrees on, in epoch seconds: PostgreSQL's own clock (so
        machines need not agree), the local clock for SQLite (every process sharing the file is on this host)."""
        if not self.is_postgres:
            return time.time()
        epoch = sa.cast(sa.extract("epoch", sa.func.clock_timestamp()), sa.Double)
        return float(conn.execute(sa.select(epoch)).scalar_one())


def open_database(
    location: str | Path,
    name: str,
    *,
    busy_timeout: float = 30.0,
    timeouts: PostgresTimeouts = PostgresTimeouts(),
    unreachable: str = "cannot connect to the database",
    pooled: bool = True,
) -> Database:
    """Open database ``name`` (``queue``, ``ipam``, ``billing``, ``keys`` or ``fleet``) at ``location`` and migrate it.

    ``busy_timeout``, ``timeouts`` and ``pooled``: see :func:`storage.engine.create_engine`.
    """
    if name not in migrate.SCHEMAS:
        raise ValueError(f"database name: expected one of {sorted(migrate.SCHEMAS)}, got {name!r}")
    engine = create_engine(location, busy_timeout=busy_timeout, timeouts=timeouts, pooled=pooled)
    database = Database(engine, name, unreachable)
    migrate.upgrade(database.engine, name, unreachable)
    return database
