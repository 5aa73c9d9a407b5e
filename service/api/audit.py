"""The API's audit records: every operator, signup and billing action, with the caller's credential and
request id (never the credential itself)."""

from __future__ import annotations

import hashlib
import logging

from provisioning.fleet_db import FleetDatabase, fleet_database
from service.api.context import ServiceContext
from service.logs import context_field

log = logging.getLogger(__name__)


def credential_actor(role: str, secret: str) -> str:
    """``<role>:<first 12 hex of the credential's SHA-256>``: which credential acted, without revealing it."""
    return f"{role}:{hashlib.sha256(secret.encode()).hexdigest()[:12]}"


def audit_trail(ctx: ServiceContext) -> FleetDatabase | None:
    """The fleet database's trail, or None when this API process has no Proxmox access configured to locate it."""
    if ctx.audit is not None:
        return ctx.audit
    if ctx.backups is None:
        return None
    ctx.audit = fleet_database(ctx.backups.stacks)
    return ctx.audit


def record(
    ctx: ServiceContext,
    actor: str,
    action: str,
    subject: str,
    outcome: str,
    *,
    tenant: str | None = None,
    detail: str = "",
) -> None:
    """Append one record with the current request id; a trail that cannot be written is logged as an error."""
    trail = audit_trail(ctx)
    if trail is None:
        return
    try:
        trail.audit(
            actor, action, subject, outcome, tenant=tenant, detail=detail, request_id=context_field("request_id")
        )
    except Exception as exc:  # the action already happened: say loudly that its record is missing
        log.error("audit record %s on %s could not be written (%s: %s)", action, subject, type(exc).__name__, exc)
