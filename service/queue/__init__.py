"""The durable job queue: :func:`open_queue` picks SQLite (embedded) or PostgreSQL (scale-out) by URL."""
from __future__ import annotations

from pathlib import Path

from service.queue.base import AWAITING_PAYMENT, HELD, Conflict, Job, JobQueue, NotFound, Outcome, QueueError, Submitted, Tenant


def open_queue(url: str) -> JobQueue:
    """``sqlite:///path/to/file`` or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        from service.queue.sqlite import SqliteQueue

        return SqliteQueue(Path(url[len("sqlite://"):]))  # sqlite:///abs/path -> /abs/path
    if url.startswith(("postgresql://", "postgres://")):
        from service.queue.postgres import PostgresQueue

        return PostgresQueue(url)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")


__all__ = ["AWAITING_PAYMENT", "HELD", "Conflict", "Job", "JobQueue", "NotFound", "Outcome", "QueueError", "Submitted", "Tenant", "open_queue"]
