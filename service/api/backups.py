"""Operator endpoints for data safety (bearer token): a tenant's backups, protection, restores, archives
and undelete. Reads and protection answer at once; backups, restores and undeletes are queued jobs
(their progress is the job's ``current_phase``, their result its ``outputs``)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from components.spec import SpecErrors, TenantSpec
from provisioning.declarations import stored_tenant
from provisioning.tenant_backups import TenantBackups
from service.api.audit import record
from service.api.context import ServiceContext
from service.api.operator import Operator, _guard, audited_job, operator_actor

PROXMOX_FAILURE = "Proxmox could not be read; check PROXMOX_VE_* and the cluster, then try again"


class BackupRequest(BaseModel):
    """Back up all servers, or one."""

    server: int | None = Field(None, ge=0, description="server index (from 0); all servers when absent")


class RestoreRequest(BaseModel):
    """Restore one server from one of the tenant's backups."""

    volid: str = Field(..., min_length=3, description="the backup's volume id (GET …/backups)")
    server: int = Field(..., ge=0, description="the server to restore into (index from 0)")
    stop: bool = Field(False, description="stop the server first if it runs (what it wrote since is lost)")


class ProtectRequest(BaseModel):
    """Protect a backup from pruning and deletion, or lift the protection."""

    volid: str = Field(..., min_length=3)
    protected: bool = True


def _backups(ctx: ServiceContext) -> TenantBackups:
    if ctx.backups is None:
        raise HTTPException(503, "this service runs without Proxmox access for backups (no TenantBackups configured)")
    return ctx.backups


def _tenant(ctx: ServiceContext, slug: str) -> TenantSpec:
    stored = _guard(lambda: ctx.queue.get_tenant(slug))
    try:
        return stored_tenant(slug, stored.declaration, ctx.environment)
    except SpecErrors as exc:
        raise HTTPException(409, f"tenant {slug!r}'s stored declaration no longer validates: {exc}") from None


def _queued(ctx: ServiceContext, slug: str, kind: Any, params: dict[str, Any]) -> JSONResponse:
    submitted = audited_job(
        ctx, f"operator.{kind}", slug, lambda: ctx.queue.submit(slug, kind, ctx.settings.max_attempts, params)
    )
    return JSONResponse({"job_id": submitted.job.id, "duplicate": not submitted.created}, status_code=202)


def list_backups(slug: str, ctx: ServiceContext = Operator) -> dict[str, Any]:
    """The tenant's backups and archives across its storages, oldest first."""
    tenant = _tenant(ctx, slug)
    try:
        found = _backups(ctx).backups(tenant)
    except (OSError, RuntimeError) as exc:
        raise HTTPException(502, f"{PROXMOX_FAILURE} ({type(exc).__name__})") from None
    return {"slug": slug, "backups": [b.to_json() for b in found]}


def back_up(slug: str, body: BackupRequest | None = None, ctx: ServiceContext = Operator) -> JSONResponse:
    """Queue a backup of all servers (or one) now; 202 with the job."""
    server = body.server if body is not None else None
    return _queued(ctx, slug, "backup", {} if server is None else {"server": server})


def restore(slug: str, body: RestoreRequest, ctx: ServiceContext = Operator) -> JSONResponse:
    """Queue a restore of one server from one of the tenant's backups; 202 with the job.

    Refused when it ends (job failed with the reason) if the server runs and ``stop`` is false."""
    return _queued(ctx, slug, "restore", {"volid": body.volid, "server": body.server, "stop": body.stop})


def protect(slug: str, body: ProtectRequest, ctx: ServiceContext = Operator) -> dict[str, Any]:
    """Protect (or unprotect) one of the tenant's backups; the backup as it is now."""
    tenant = _tenant(ctx, slug)
    actor, action = operator_actor(ctx), "operator.protect" if body.protected else "operator.unprotect"
    try:
        backup = _backups(ctx).protect(tenant, body.volid, body.protected).to_json()
    except RuntimeError as exc:  # not the tenant's backup, or refused by Proxmox
        record(ctx, actor, action, body.volid, "refused", tenant=slug, detail=str(exc))
        raise HTTPException(409, str(exc)) from None
    record(ctx, actor, action, body.volid, "done", tenant=slug)
    return backup


def undelete(slug: str, ctx: ServiceContext = Operator) -> JSONResponse:
    """Queue the undelete of a decommissioned tenant from its archives (same slug, plan, hostnames)."""
    return _queued(ctx, slug, "undelete", {})


def list_archives(slug: str | None = None, ctx: ServiceContext = Operator) -> dict[str, Any]:
    """Decommissioned tenants' archives (of one tenant with ``slug``) and their delete-after dates."""
    try:
        found = _backups(ctx).archives(slug)
    except (OSError, RuntimeError) as exc:
        raise HTTPException(502, f"{PROXMOX_FAILURE} ({type(exc).__name__})") from None
    return {"archives": [a.to_json() for a in found]}
