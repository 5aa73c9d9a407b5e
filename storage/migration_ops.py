"""Helpers for the migrations that cover the years before Alembic (the hand-written ``CREATE TABLE IF NOT
EXISTS`` era): a database of that era may already have a later table or column, so those revisions add
only what is missing. Revisions written after the move to Alembic use plain ``op`` calls."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op


def has_table(name: str) -> bool:
    """Whether the database being migrated has table ``name``."""
    return sa.inspect(op.get_bind()).has_table(name)


def has_column(table: str, column: str) -> bool:
    """Whether ``table`` has ``column``."""
    return any(c["name"] == column for c in sa.inspect(op.get_bind()).get_columns(table))


def create_table_if_absent(name: str, *columns: Any, **kwargs: Any) -> bool:
    """``op.create_table`` unless the table exists; True when it was created."""
    if has_table(name):
        return False
    op.create_table(name, *columns, **kwargs)
    return True


def add_column_if_absent(table: str, column: sa.Column[Any]) -> None:
    """``op.add_column`` unless ``table`` already has it."""
    if not has_column(table, column.name):
        op.add_column(table, column)
