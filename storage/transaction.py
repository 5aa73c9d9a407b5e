"""The one transaction helper: every read and write of every database goes through :func:`transaction`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from clients.retry import RetryPolicy
from storage.engine import WRITE_OPTION

CONNECT_RETRY = RetryPolicy(attempts=3, initial=0.2, maximum=0.8)
"""A PostgreSQL server restarting or a network blink: three tries over about a second."""


@contextmanager
def transaction(
    engine: Engine, write: bool = False, unreachable: str = "cannot connect to the database"
) -> Iterator[Connection]:
    """A connection inside one transaction: committed when the block ends, rolled back on any exception.

    ``write`` marks a transaction that changes rows: on SQLite it takes the write lock at ``BEGIN``
    (``BEGIN IMMEDIATE``), so writers in every process serialise up front instead of failing to upgrade
    a read lock. PostgreSQL connects with retries; when they run out it raises :class:`ConnectionError`
    with ``unreachable`` (never the URL, which may hold a password).
    """
    with _connect(engine, unreachable) as conn:
        if write:
            conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _connect(engine: Engine, unreachable: str) -> Connection:
    if engine.dialect.name == "sqlite":
        return engine.connect()
    try:
        return CONNECT_RETRY.call(engine.connect, lambda exc: isinstance(exc, OperationalError))
    except OperationalError:
        raise ConnectionError(unreachable) from None
