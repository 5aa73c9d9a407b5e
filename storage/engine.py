"""One engine factory for every database: a SQLite file (path or ``sqlite:///``) or a ``postgresql://`` URL.

SQLite: WAL, a busy timeout, a fresh connection per transaction (no pool shared across forks), owner-only
files (:func:`storage.private_files.private_sqlite`), and SQLAlchemy emitting ``BEGIN`` itself so that a
write transaction can take the write lock up front (``BEGIN IMMEDIATE``, see :mod:`storage.transaction`).
PostgreSQL: psycopg 3 with a connect timeout and server-side statement/lock timeouts, pooled with a
liveness check so a connection broken by a restart is replaced rather than failing the next call.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from storage.private_files import private_sqlite

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
CONNECT_TIMEOUT_SECONDS = 5
WRITE_OPTION = "storage_write"
"""Execution option marking a write transaction (SQLite then begins with ``BEGIN IMMEDIATE``)."""


@dataclass(frozen=True)
class PostgresTimeouts:
    """Server-side bounds (milliseconds) so a stuck lock or query never hangs a caller."""

    statement_ms: int = 15000
    lock_ms: int = 10000
    idle_in_transaction_ms: int = 60000

    def options(self) -> str:
        """The libpq ``options`` string setting them for the session."""
        return (
            f"-c statement_timeout={self.statement_ms} -c lock_timeout={self.lock_ms} "
            f"-c idle_in_transaction_session_timeout={self.idle_in_transaction_ms}"
        )


def is_postgres_location(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database (else it is a SQLite file)."""
    return location.startswith(POSTGRES_SCHEMES)


def sqlite_path(location: str | Path) -> Path:
    """The file of a SQLite location: a path, or ``sqlite:///abs/path`` (``sqlite://`` prefix optional)."""
    text = str(location)
    if text.startswith("sqlite:"):
        text = text.removeprefix("sqlite:").removeprefix("//")
    if not text or text == ":memory:":
        raise ValueError("database location: a SQLite file path is required (an in-memory database is not shared)")
    return Path(text)


def postgres_url(location: str) -> URL:
    """``location`` with the psycopg 3 driver (``postgres://`` and ``postgresql://`` both accepted)."""
    return make_url(location).set(drivername="postgresql+psycopg")


def create_engine(
    location: str | Path,
    *,
    busy_timeout: float = 30.0,
    timeouts: PostgresTimeouts = PostgresTimeouts(),
    read_only: bool = False,
    pooled: bool = True,
) -> Engine:
    """An engine for ``location`` (a SQLite file path / ``sqlite:///`` URL, or a ``postgresql://`` URL).

    ``busy_timeout``: seconds a SQLite caller waits for another process's write lock. ``read_only``: SQLite
    opens an existing file without creating or migrating it; PostgreSQL sessions refuse writes. ``pooled``
    False: PostgreSQL connects per transaction and keeps nothing idle (for short-lived users such as the
    allocation provider); SQLite always connects per transaction.
    """
    if isinstance(location, str) and is_postgres_location(location):
        return _postgres_engine(location, timeouts, read_only, pooled)
    return _sqlite_engine(sqlite_path(location), busy_timeout, read_only)


def _postgres_engine(location: str, timeouts: PostgresTimeouts, read_only: bool, pooled: bool) -> Engine:
    options = timeouts.options() + (" -c default_transaction_read_only=on" if read_only else "")
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, "options": options}
    if not pooled:
        return sa.create_engine(postgres_url(location), poolclass=NullPool, connect_args=connect_args)
    return sa.create_engine(
        postgres_url(location),
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=45,
        pool_timeout=30,
        connect_args=connect_args,
    )


def _sqlite_engine(path: Path, busy_timeout: float, read_only: bool) -> Engine:
    if read_only:
        if not path.is_file():
            raise FileNotFoundError(f"no SQLite database at {path}")
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    else:
        private_sqlite(path)
        url = f"sqlite:///{path}"
    engine = sa.create_engine(
        url, poolclass=NullPool, connect_args={"timeout": busy_timeout, "check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver never begins on its own: SQLAlchemy does, below
        cursor = dbapi_connection.cursor()
        try:
            if not read_only:
                _set_wal(cursor, busy_timeout)
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _set_wal(cursor: Any, busy_timeout: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the lock the switch needs.

    Switching a new file to WAL takes an exclusive lock, and SQLite may answer "database is locked" at once
    instead of waiting out its busy timeout when several processes open the same new file together. The mode
    is persistent, so the first opener's switch serves everyone; the others retry (bounded by ``busy_timeout``).
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
