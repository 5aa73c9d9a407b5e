"""Portable upserts: SQLite and PostgreSQL share ``INSERT ... ON CONFLICT`` through their dialects' ``insert``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def _insert(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def insert_unless_present(conn: Connection, table: sa.Table, values: Mapping[str, Any], key: Sequence[str]) -> int:
    """Insert a row unless one with the same ``key`` exists; how many rows were inserted (0 or 1)."""
    result = conn.execute(_insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=list(key)))
    return int(result.rowcount)


def upsert(conn: Connection, table: sa.Table, values: Mapping[str, Any], key: Sequence[str]) -> None:
    """Insert a row, or replace every given column of the row with the same ``key``."""
    statement = _insert(conn, table).values(**values)
    changed = {name: statement.excluded[name] for name in values if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=changed))
