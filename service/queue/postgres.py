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

from service.queue.sql import SqlQueue
from storage import PostgresTimeouts, open_database

# Server-side bounds so a stuck lock or query can never hang a worker or a request.
TIMEOUTS = PostgresTimeouts(statement_ms=15000, lock_ms=10000, idle_in_transaction_ms=60000)


class PostgresQueue(SqlQueue):
    """The queue in a PostgreSQL database (``postgresql://user@host:port/db``), migrated when opened."""

    def __init__(self, url: str) -> None:
        super().__init__(
            open_database(url, "queue", timeouts=TIMEOUTS, unreachable="cannot connect to the queue database")
        )

    def __repr__(self) -> str:
        return "PostgresQueue(<url hidden>)"
