"""What a database error means, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, IntegrityError

_UNIQUE_SQLSTATE = "23505"
_SQLITE_UNIQUE_CODES = (2067, 1555)  # SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing a duplicate key (a unique index or primary key)."""
    if not isinstance(exc, IntegrityError):
        return False
    original = exc.orig
    if isinstance(original, sqlite3.IntegrityError):
        return getattr(original, "sqlite_errorcode", None) in _SQLITE_UNIQUE_CODES
    return getattr(original, "sqlstate", None) == _UNIQUE_SQLSTATE


def describe(exc: BaseException) -> str:
    """A log-safe description: SQLite's own message (it never holds a secret), else only the error's type.

    PostgreSQL drivers' messages may quote the connection string, so they are left out.
    """
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(original, sqlite3.Error):
        return f"{type(original).__name__}: {original}"
    return type(exc).__name__
