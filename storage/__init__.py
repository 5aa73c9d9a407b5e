"""One database layer (SQLAlchemy Core + Alembic) shared by the queue, the allocations, billing and the key ledger.

Databases (tables in :mod:`storage.schema`, one ``MetaData`` each):

* ``queue`` - the service's jobs, tenants, seen events and usage records (``service.queue``); a SQLite file
  by default, PostgreSQL (``SERVICE_DATABASE_URL``) when workers on several hosts share it;
* ``ipam`` - VM id / address allocations (``ipam.store``); SQLite, or PostgreSQL (``ALLOCATIONS_DB``, by
  default the queue's database when that is PostgreSQL);
* ``billing`` - Stripe events, billing state, outbox, checkout sessions, suspension timers (SQLite);
* ``keys`` - the per-run Dokploy key ledger (SQLite, one file per environment);
* ``fleet`` - the audit trail and stored reconcile reports (``provisioning.audit``, ``provisioning.reconcile``).

Every store opens its database with :func:`open_database`: one engine factory (:mod:`storage.engine`:
SQLite in WAL with a busy timeout and owner-only files, PostgreSQL through psycopg 3 with connect and
statement timeouts), then ``alembic upgrade <name>@head`` (:mod:`storage.migrate`; each database has its
own branch and version table, a pre-Alembic database is stamped, not recreated). All reads and writes go
through one helper, :func:`transaction` (``write=True`` takes SQLite's write lock at ``BEGIN``).

To add a column: add it to the table in ``storage/schema/<database>.py``, then run
``python -m storage new <database> "add <column>"`` and fill in the new file's ``upgrade``
(``op.add_column(...)``) and ``downgrade``; every store migrates itself the next time it opens.
``tests/storage/test_migrations.py`` checks that the migrations produce exactly the tables defined here.
"""

from __future__ import annotations

from storage.database import Database, open_database
from storage.engine import PostgresTimeouts, create_engine, is_postgres_location
from storage.errors import describe, is_unique_violation
from storage.transaction import transaction

__all__ = [
    "Database",
    "PostgresTimeouts",
    "create_engine",
    "describe",
    "is_postgres_location",
    "is_unique_violation",
    "open_database",
    "transaction",
]
