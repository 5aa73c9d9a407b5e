"""Operator endpoints for the fleet: the newest reconcile report and the audit trail (bearer token)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from starlette.responses import Response

from provisioning.fleet_db import FleetDatabase, fleet_database
from service.api.context import ServiceContext
from service.api.operator import Operator


def fleet_db(ctx: ServiceContext) -> FleetDatabase:
    """The fleet database the workers' reconciler and cloudctl write (503 when the service has no Proxmox
    access configured to locate it)."""
    if ctx.backups is None:
        raise HTTPException(503, "the fleet database is not configured on this API process")
    return fleet_database(ctx.backups.stacks)


def latest_report(ctx: ServiceContext = Operator) -> dict[str, Any]:
    """The newest reconcile report (404 until the first run): findings by class, per-tenant verdicts, errors."""
    report = fleet_db(ctx).latest_report()
    if report is None:
        raise HTTPException(404, "no reconcile report yet: the workers' first run is due within a minute of start")
    return report


def audit_events(
    tenant: str | None = None,
    action: str | None = None,
    since: float | None = None,
    limit: int = 200,
    ctx: ServiceContext = Operator,
) -> dict[str, Any]:
    """Audit events, newest first, filtered by tenant, action prefix and time (Unix seconds)."""
    events = fleet_db(ctx).events(tenant=tenant, action=action, since=since, limit=max(1, min(limit, 1000)))
    return {"events": [e.to_json() for e in events]}


def audit_export(since_id: int = 0, ctx: ServiceContext = Operator) -> Response:
    """Every record after ``since_id``, oldest first, as JSON lines (with ``prev_hash`` and ``hash``)."""
    lines = "".join(json.dumps(e.to_json(), sort_keys=True) + "\n" for e in fleet_db(ctx).chain(since_id))
    return Response(lines, media_type="application/x-ndjson")


def audit_verify(ctx: ServiceContext = Operator) -> dict[str, Any]:
    """Recompute the hash chain: records checked, head hash, and the first broken record (null: intact)."""
    result = fleet_db(ctx).verify_chain()
    broken = None if result.broken is None else {"id": result.broken.record_id, "reason": result.broken.reason}
    return {"ok": result.ok, "checked": result.checked, "head": result.head, "broken": broken}
