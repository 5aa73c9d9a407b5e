"""The scale-out queue on PostgreSQL: workers on several machines share one database.

Why PostgreSQL and this shape: ``SELECT ... FOR UPDATE SKIP LOCKED`` lets many workers poll one
table without blocking each other or taking the same row, inside the same transaction that marks
the job running — no separate broker, and jobs, tenants and seen events change atomically together
(a broker such as Redis would need its own durability story and a second store for tenant state).
A claim is a *lease* (``lease_owner``, ``lease_expires`` on the database clock, so machines' clocks
need not agree); workers heartbeat to extend it, and a job whose lease lapsed (worker SIGKILLed,
machine gone) is runnable again. A partial unique index keeps one running job per tenant even when
two claimers race on different jobs of the same tenant.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import psycopg
from psycopg.rows import dict_row

from service.queue.sql import SqlQueue, Tx
from service.queue.usage import SCHEMA as USAGE_SCHEMA

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, slug TEXT NOT NULL, kind TEXT NOT NULL,
  operation TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
  run_after DOUBLE PRECISION NOT NULL, created_at DOUBLE PRECISION NOT NULL, lease_owner TEXT,
  lease_expires DOUBLE PRECISION, started_at DOUBLE PRECISION, finished_at DOUBLE PRECISION, error TEXT,
  current_phase TEXT, phases TEXT NOT NULL, outputs TEXT NOT NULL, event_id TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_running_per_tenant ON jobs (slug) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, run_after);
CREATE INDEX IF NOT EXISTS jobs_by_slug ON jobs (slug, state);
CREATE TABLE IF NOT EXISTS tenants (
  slug TEXT PRIMARY KEY, plan TEXT NOT NULL, organization_id TEXT NOT NULL, declaration TEXT NOT NULL,
  phase TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
  ready_at DOUBLE PRECISION, last_job_id TEXT, last_error TEXT, outputs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
  event_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, slug TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
"""
CONNECT_TIMEOUT_SECONDS = 5
CONNECT_ATTEMPTS = 3
# Server-side bounds so a stuck lock or query can never hang a worker or a request.
SESSION_OPTIONS = "-c statement_timeout=15000 -c lock_timeout=10000 -c idle_in_transaction_session_timeout=60000"


class PostgresQueue(SqlQueue):
    """The queue in a PostgreSQL database (``postgresql://user@host:port/db``); one connection per thread."""

    claim_lock = "FOR UPDATE OF j SKIP LOCKED"

    def __init__(self, url: str) -> None:
        self._url = url
        self._local = threading.local()
        with self.transaction(write=True) as tx:
            tx.execute("SELECT pg_advisory_xact_lock(7245001)")  # one schema creator at a time
            for statement in filter(str.strip, (SCHEMA + USAGE_SCHEMA).split(";")):
                tx.execute(statement)
            self.guard_organizations(tx)

    def __repr__(self) -> str:
        return "PostgresQueue(<url hidden>)"

    def _connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                conn = psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True,
                                       row_factory=dict_row, options=SESSION_OPTIONS)
                break
            except psycopg.OperationalError:
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise ConnectionError("cannot connect to the queue database") from None
                time.sleep(0.2 * 2 ** attempt)
        self._local.conn = conn
        return conn  # type: ignore[return-value]

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Tx]:
        """A transaction on this thread's connection (reconnecting if it broke)."""
        conn = self._connection()
        with conn.transaction():
            with conn.cursor() as cur:
                yield Tx(cur, "%s")

    def now(self, tx: Tx) -> float:
        """The database's clock, shared by every worker whatever machine it runs on."""
        row = tx.one("SELECT extract(epoch from clock_timestamp())::float8 AS now")
        assert row is not None
        return float(row["now"])

    def is_unique_violation(self, exc: Exception) -> bool:
        """PostgreSQL reports duplicate keys as UniqueViolation (SQLSTATE 23505)."""
        return isinstance(exc, psycopg.errors.UniqueViolation)
