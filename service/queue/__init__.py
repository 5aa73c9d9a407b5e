"""The durable job queue: :func:`open_queue` picks SQLite (embedded) or PostgreSQL (scale-out) by URL."""

from __future__ import annotations

from service.queue.base import (
    AWAITING_PAYMENT,
    HELD,
    Conflict,
    Job,
    JobQueue,
    JobState,
    NotFound,
    Outcome,
    QueueError,
    Submitted,
    Tenant,
    TenantPhase,
)


def open_queue(url: str) -> JobQueue:
    """``sqlite:///path/to/file`` or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        from service.queue.sqlite import SqliteQueue

        return SqliteQueue(url[len("sqlite://") :])  # sqlite:///abs/path -> /abs/path
    if url.startswith(("postgresql://", "postgres://")):
        from service.queue.postgres import PostgresQueue

        return PostgresQueue(url)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")


__all__ = [
    "AWAITING_PAYMENT",
    "HELD",
    "Conflict",
    "Job",
    "JobQueue",
    "JobState",
    "NotFound",
    "Outcome",
    "QueueError",
    "Submitted",
    "Tenant",
    "TenantPhase",
    "open_queue",
]
