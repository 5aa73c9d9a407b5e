"""Usage records in the queue's database: what ran when, what was reported, and how far reporting got.

* ``usage_changes``: after every successful run, the VMs the tenant has running on its plan (0 when
  suspended or destroyed), written in the same transaction that finishes the job (:meth:`SqlQueue.finish`).
* ``usage_reports``: one row per reported ``(tenant, plan, hour)``; ``customer`` NULL means not billed.
* ``usage_watermark``: the first hour not yet fully reported, and when reporting last caught up.

The tables are in :mod:`storage.schema.queue` (SQLite and PostgreSQL alike), so reports survive restarts and
are shared by every replica. Every function takes a connection inside the queue's ``transaction()``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.schema.queue import usage_changes, usage_reports, usage_watermark
from storage.statements import insert_unless_present

_WATERMARK = "vm-hours"


def record_change(tx: Connection, job_id: str, slug: str, at: float, plan: str, vms: int) -> None:
    """Record that ``slug`` runs ``vms`` VMs on ``plan`` from ``at`` (once per job)."""
    insert_unless_present(
        tx, usage_changes, {"job_id": job_id, "slug": slug, "at": at, "plan": plan, "vms": vms}, key=["job_id"]
    )


def changes_between(tx: Connection, start: float, end: float) -> list[tuple[str, float, str, int]]:
    """(tenant, at, plan, vms) of the changes in ``[start, end)`` plus each tenant's last one before ``start``
    (what ran when ``start`` began), per tenant in time order."""
    change, earlier = usage_changes.alias("c"), usage_changes.alias("p")
    last_before_start = (
        sa.select(sa.func.max(earlier.c.at))
        .where(earlier.c.slug == change.c.slug, earlier.c.at < start)
        .scalar_subquery()
    )
    rows = tx.execute(
        sa.select(change.c.slug, change.c.at, change.c.plan, change.c.vms)
        .where(change.c.at < end, sa.or_(change.c.at >= start, change.c.at == last_before_start))
        .order_by(change.c.slug, change.c.at, change.c.job_id)
    )
    return [(r.slug, float(r.at), r.plan, int(r.vms)) for r in rows]


def first_change(tx: Connection) -> float | None:
    """When the first change was recorded, if any."""
    at = tx.execute(sa.select(sa.func.min(usage_changes.c.at))).scalar()
    return float(at) if at is not None else None


def watermark(tx: Connection) -> dict[str, Any] | None:
    """``{next_window, last_success}``, or None before the first run."""
    row = tx.execute(
        sa.select(usage_watermark.c.next_window, usage_watermark.c.last_success).where(
            usage_watermark.c.name == _WATERMARK
        )
    ).first()
    return dict(row._mapping) if row is not None else None


def start_watermark(tx: Connection, next_window: int) -> None:
    """Create the watermark at ``next_window`` unless a concurrent run already did."""
    insert_unless_present(
        tx, usage_watermark, {"name": _WATERMARK, "next_window": next_window, "last_success": None}, key=["name"]
    )


def advance(tx: Connection, done_window: int, next_window: int) -> bool:
    """Move the watermark past ``done_window`` (compare-and-set: False if another run already did)."""
    result = tx.execute(
        sa.update(usage_watermark)
        .where(usage_watermark.c.name == _WATERMARK, usage_watermark.c.next_window == done_window)
        .values(next_window=next_window)
    )
    return result.rowcount == 1


def caught_up(tx: Connection, at: float) -> None:
    """Every closed hour is reported: note the time (the ``/metrics`` gauge)."""
    tx.execute(sa.update(usage_watermark).where(usage_watermark.c.name == _WATERMARK).values(last_success=at))


def reported(tx: Connection, slug: str, plan: str, window_start: int) -> bool:
    """Whether this ``(tenant, plan, hour)`` was already reported."""
    found = tx.execute(
        sa.select(sa.literal(1)).where(
            usage_reports.c.slug == slug, usage_reports.c.plan == plan, usage_reports.c.window_start == window_start
        )
    )
    return found.first() is not None


def record_report(
    tx: Connection, slug: str, plan: str, window_start: int, vm_hours: int, customer: str | None, at: float
) -> None:
    """Remember a sent (or, without a customer, unbilled) report."""
    insert_unless_present(
        tx,
        usage_reports,
        {
            "slug": slug,
            "plan": plan,
            "window_start": window_start,
            "vm_hours": vm_hours,
            "customer": customer,
            "reported_at": at,
        },
        key=["slug", "plan", "window_start"],
    )


def reports(tx: Connection) -> list[tuple[str, str, int, int, str | None]]:
    """Every report (tenant, plan, hour, VM-hours, customer), in order."""
    rows = tx.execute(
        sa.select(
            usage_reports.c.slug,
            usage_reports.c.plan,
            usage_reports.c.window_start,
            usage_reports.c.vm_hours,
            usage_reports.c.customer,
        ).order_by(usage_reports.c.window_start, usage_reports.c.slug, usage_reports.c.plan)
    )
    return [(r.slug, r.plan, int(r.window_start), int(r.vm_hours), r.customer) for r in rows]
