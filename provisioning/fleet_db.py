"""The fleet database (``storage.schema.fleet``): the audit trail and the stored reconcile reports.

cloudctl and the service open the same one (:func:`fleet_location`), so ``cloudctl reconcile --fix`` and
the service's scheduled reconcile write one trail, and the operator API serves the newest report whoever
made it. Records carry what was done and to what, never a credential.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from provisioning.audit_chain import GENESIS, Verification, record_hash, verify
from storage import Database, is_postgres_location, open_database
from storage.schema.fleet import audit_event, reconcile_report

if TYPE_CHECKING:
    from provisioning.stacks import TenantStacks

FLEET_DB_VAR = "FLEET_DB"
AUDIT_LOCK_KEY = 7245101
"""PostgreSQL advisory lock serialising appends to the chain (SQLite's ``BEGIN IMMEDIATE`` already does)."""
PRUNE_ACTION = "audit.prune"
_ANCHOR = re.compile(r"anchor=([0-9a-f]{64})")
REPORTS_KEPT = 200
"""Reports older than the newest this many (per environment) are dropped when a new one is saved."""


def fleet_location(allocations: str, env_name: str, variables: Mapping[str, str] = os.environ) -> str:
    """``FLEET_DB``, else the allocations' PostgreSQL database, else ``fleet-<env>.sqlite`` beside the allocations."""
    if variables.get(FLEET_DB_VAR):
        return variables[FLEET_DB_VAR]
    if is_postgres_location(allocations):
        return allocations
    return str(Path(allocations).parent / f"fleet-{env_name}.sqlite")


@functools.cache
def open_fleet_database(location: str, env_name: str) -> FleetDatabase:
    """The fleet database at ``location`` for ``env_name``, opened (and migrated) once per process."""
    return FleetDatabase(location, env_name)


def fleet_database(stacks: TenantStacks) -> FleetDatabase:
    """The fleet database of ``stacks``' environment (:func:`fleet_location` of its allocations)."""
    return open_fleet_database(fleet_location(stacks.allocations_location(), stacks.env_name), stacks.env_name)


def default_actor() -> str:
    """Who runs cloudctl: ``cloudctl:<login>`` (the OS account; tokens are never recorded)."""
    try:
        return f"cloudctl:{getpass.getuser()}"
    except Exception:  # no passwd entry in some containers
        return "cloudctl:unknown"


@dataclass(frozen=True)
class AuditEvent:
    """One action on the fleet: who, when, what, on which tenant and subject, and how it ended."""

    id: int
    at: float
    env: str
    actor: str
    action: str
    tenant: str | None
    subject: str
    outcome: str
    detail: str
    request_id: str | None
    prev_hash: str | None = None
    hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FleetDatabase:
    """Audit events and reconcile reports of one environment."""

    def __init__(self, location: str | Path, env_name: str) -> None:
        self.env_name = env_name
        self.database: Database = open_database(
            location, "fleet", unreachable="cannot connect to the fleet database (FLEET_DB)"
        )

    def audit(
        self,
        actor: str,
        action: str,
        subject: str,
        outcome: str,
        *,
        tenant: str | None = None,
        detail: str = "",
        request_id: str | None = None,
    ) -> int:
        """Append one event to the environment's hash chain; return its id."""
        with self.database.transaction(write=True) as tx:
            return self._append(
                tx,
                {
                    "at": self.database.now(tx),
                    "env": self.env_name,
                    "actor": actor,
                    "action": action,
                    "tenant": tenant,
                    "subject": subject,
                    "outcome": outcome,
                    "detail": detail,
                    "request_id": request_id,
                },
            )

    def _append(self, tx: Connection, record: dict[str, Any]) -> int:
        if self.database.is_postgres:  # one appender at a time, or two records would follow the same head
            tx.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_LOCK_KEY)))
        head = tx.execute(
            sa.select(audit_event.c.hash)
            .where(audit_event.c.env == self.env_name)
            .order_by(audit_event.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        prev = head or GENESIS
        result = tx.execute(audit_event.insert().values(**record, prev_hash=prev, hash=record_hash(record, prev)))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def chain(self, since_id: int = 0) -> list[AuditEvent]:
        """This environment's events after ``since_id``, oldest first (the order the chain runs in)."""
        query = (
            sa.select(audit_event)
            .where(audit_event.c.env == self.env_name, audit_event.c.id > since_id)
            .order_by(audit_event.c.id)
        )
        with self.database.transaction() as tx:
            return [AuditEvent(**row._mapping) for row in tx.execute(query).all()]

    def verify_chain(self) -> Verification:
        """Recompute the chain: the oldest kept record must follow the last prune's anchor (or the genesis)."""
        records = self.chain()
        prunes = [e for e in records if e.action == PRUNE_ACTION]
        found = _ANCHOR.search(prunes[-1].detail) if prunes else None
        anchor = found.group(1) if found else GENESIS
        return verify((e.to_json() for e in records), anchor)

    def prune(self, older_than_days: float, actor: str) -> int:
        """Delete records older than the retention period; record the anchor that keeps the rest verifiable.

        Returns how many were deleted (0: nothing recorded either).
        """
        with self.database.transaction(write=True) as tx:
            cutoff = self.database.now(tx) - older_than_days * 86400
            old = audit_event.c.env == self.env_name
            doomed = tx.execute(
                sa.select(sa.func.count(), sa.func.max(audit_event.c.id)).where(old, audit_event.c.at < cutoff)
            ).one()
            count, last_id = int(doomed[0]), doomed[1]
            if not count:
                return 0
            anchor = tx.execute(sa.select(audit_event.c.hash).where(audit_event.c.id == last_id)).scalar_one()
            tx.execute(audit_event.delete().where(old, audit_event.c.id <= last_id))
            self._append(
                tx,
                {
                    "at": self.database.now(tx),
                    "env": self.env_name,
                    "actor": actor,
                    "action": PRUNE_ACTION,
                    "tenant": None,
                    "subject": f"records up to id {last_id}",
                    "outcome": "done",
                    "detail": f"removed={count} older_than_days={older_than_days:g} anchor={anchor}",
                    "request_id": None,
                },
            )
            return count

    def events(
        self, *, tenant: str | None = None, action: str | None = None, since: float | None = None, limit: int = 200
    ) -> list[AuditEvent]:
        """This environment's events, newest first, filtered by tenant, action (prefix) and time."""
        query = sa.select(audit_event).where(audit_event.c.env == self.env_name)
        if tenant is not None:
            query = query.where(audit_event.c.tenant == tenant)
        if action is not None:
            query = query.where(audit_event.c.action.startswith(action))
        if since is not None:
            query = query.where(audit_event.c.at >= since)
        with self.database.transaction() as tx:
            rows = tx.execute(query.order_by(audit_event.c.id.desc()).limit(limit)).all()
        return [AuditEvent(**row._mapping) for row in rows]

    def save_report(self, report: Mapping[str, Any]) -> int:
        """Store a reconcile report (its JSON form); keep the newest :data:`REPORTS_KEPT`."""
        with self.database.transaction(write=True) as tx:
            result = tx.execute(
                reconcile_report.insert().values(
                    env=self.env_name, at=float(report.get("generated_at") or time.time()), report=json.dumps(report)
                )
            )
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            tx.execute(
                reconcile_report.delete().where(
                    reconcile_report.c.env == self.env_name, reconcile_report.c.id <= new_id - REPORTS_KEPT
                )
            )
            return new_id

    def latest_report(self) -> dict[str, Any] | None:
        """The newest stored report of this environment, or None."""
        query = (
            sa.select(reconcile_report.c.report)
            .where(reconcile_report.c.env == self.env_name)
            .order_by(reconcile_report.c.id.desc())
            .limit(1)
        )
        with self.database.transaction() as tx:
            text = tx.execute(query).scalar_one_or_none()
        return json.loads(text) if text else None
