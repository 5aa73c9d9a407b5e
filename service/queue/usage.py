"""Usage records in the queue's database: what ran when, what was reported, and how far reporting got.

* ``usage_changes``: after every successful run, the VMs the tenant has running on its plan (0 when
  suspended or destroyed), written in the same transaction that finishes the job (:meth:`SqlQueue.finish`).
* ``usage_reports``: one row per reported ``(tenant, plan, hour)``; ``customer`` NULL means not billed.
* ``usage_watermark``: the first hour not yet fully reported, and when reporting last caught up.

The DDL is portable (SQLite and PostgreSQL), so reports survive restarts and are shared by every replica.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # sql.py records changes through this module
    from service.queue.sql import Tx

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_changes (
  job_id TEXT PRIMARY KEY, slug TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, plan TEXT NOT NULL, vms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS usage_changes_by_time ON usage_changes (at);
CREATE TABLE IF NOT EXISTS usage_reports (
  slug TEXT NOT NULL, plan TEXT NOT NULL, window_start BIGINT NOT NULL, vm_hours INTEGER NOT NULL, customer TEXT,
  reported_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (slug, plan, window_start));
CREATE TABLE IF NOT EXISTS usage_watermark (
  name TEXT PRIMARY KEY, next_window BIGINT NOT NULL, last_success DOUBLE PRECISION);
"""
_WATERMARK = "vm-hours"


def record_change(tx: Tx, job_id: str, slug: str, at: float, plan: str, vms: int) -> None:
    """Record that ``slug`` runs ``vms`` VMs on ``plan`` from ``at`` (once per job)."""
    tx.execute("INSERT INTO usage_changes (job_id, slug, at, plan, vms) VALUES (?, ?, ?, ?, ?) "
               "ON CONFLICT (job_id) DO NOTHING", (job_id, slug, at, plan, vms))


def changes_between(tx: Tx, start: float, end: float) -> list[tuple[str, float, str, int]]:
    """(tenant, at, plan, vms) of the changes in ``[start, end)`` plus each tenant's last one before ``start``
    (what ran when ``start`` began), per tenant in time order."""
    rows = tx.all("SELECT slug, at, plan, vms FROM usage_changes c WHERE at < ? AND (at >= ? OR at = "
                  "(SELECT MAX(p.at) FROM usage_changes p WHERE p.slug = c.slug AND p.at < ?)) "
                  "ORDER BY slug, at, job_id", (end, start, start))
    return [(r["slug"], float(r["at"]), r["plan"], int(r["vms"])) for r in rows]


def first_change(tx: Tx) -> Optional[float]:
    """When the first change was recorded, if any."""
    row = tx.one("SELECT MIN(at) AS at FROM usage_changes")
    return float(row["at"]) if row and row["at"] is not None else None


def watermark(tx: Tx) -> Optional[dict[str, Any]]:
    """``{next_window, last_success}``, or None before the first run."""
    return tx.one("SELECT next_window, last_success FROM usage_watermark WHERE name = ?", (_WATERMARK,))


def start_watermark(tx: Tx, next_window: int) -> None:
    """Create the watermark at ``next_window`` unless a concurrent run already did."""
    tx.execute("INSERT INTO usage_watermark (name, next_window, last_success) VALUES (?, ?, NULL) "
               "ON CONFLICT (name) DO NOTHING", (_WATERMARK, next_window))


def advance(tx: Tx, done_window: int, next_window: int) -> bool:
    """Move the watermark past ``done_window`` (compare-and-set: False if another run already did)."""
    return tx.execute("UPDATE usage_watermark SET next_window = ? WHERE name = ? AND next_window = ?",
                      (next_window, _WATERMARK, done_window)) == 1


def caught_up(tx: Tx, at: float) -> None:
    """Every closed hour is reported: note the time (the ``/metrics`` gauge)."""
    tx.execute("UPDATE usage_watermark SET last_success = ? WHERE name = ?", (at, _WATERMARK))


def reported(tx: Tx, slug: str, plan: str, window_start: int) -> bool:
    """Whether this ``(tenant, plan, hour)`` was already reported."""
    return tx.one("SELECT 1 AS ok FROM usage_reports WHERE slug = ? AND plan = ? AND window_start = ?",
                  (slug, plan, window_start)) is not None


def record_report(tx: Tx, slug: str, plan: str, window_start: int, vm_hours: int, customer: Optional[str],
                  at: float) -> None:
    """Remember a sent (or, without a customer, unbilled) report."""
    tx.execute("INSERT INTO usage_reports (slug, plan, window_start, vm_hours, customer, reported_at) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (slug, plan, window_start) DO NOTHING",
               (slug, plan, window_start, vm_hours, customer, at))


def reports(tx: Tx) -> list[tuple[str, str, int, int, Optional[str]]]:
    """Every report (tenant, plan, hour, VM-hours, customer), in order."""
    rows = tx.all("SELECT slug, plan, window_start, vm_hours, customer FROM usage_reports "
                  "ORDER BY window_start, slug, plan")
    return [(r["slug"], r["plan"], int(r["window_start"]), int(r["vm_hours"]), r["customer"]) for r in rows]
