"""Alembic's environment: migrations always run on the connection :mod:`storage.migrate` hands over,
inside its transaction (which holds the migration lock), with that database's own version table."""

from __future__ import annotations

from alembic import context

config = context.config
context.configure(
    connection=config.attributes["connection"],
    version_table=config.attributes["version_table"],
    target_metadata=config.attributes["metadata"],
)
with context.begin_transaction():  # the caller's transaction: nothing is committed here
    context.run_migrations()
