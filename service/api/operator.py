"""Operator endpoints (bearer token): tenants, jobs, decommission, reapply, cancel."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Depends, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from service.api.audit import credential_actor, record
from service.api.context import ServiceContext, context
from service.queue import NotFound, QueueError


def require_operator(request: Request) -> ServiceContext:
    """The context, if the request carries the operator's bearer token; else 401."""
    ctx = context(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expected = ctx.settings.operator_token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
        raise HTTPException(401, "operator bearer token required", headers={"WWW-Authenticate": "Bearer"})
    return ctx


Operator = Depends(require_operator)
T = TypeVar("T")


def operator_actor(ctx: ServiceContext) -> str:
    """The audit actor of a request that passed :func:`require_operator`."""
    return credential_actor("operator", ctx.settings.operator_token.get_secret_value())


def audited_job(ctx: ServiceContext, action: str, slug: str, call: Callable[[], Any]) -> Any:
    """Run ``call`` (a queue submission), recording the action and its outcome (job id, or the refusal)."""
    try:
        submitted = _guard(call)
    except HTTPException as exc:
        record(ctx, operator_actor(ctx), action, f"tenant {slug}", "refused", tenant=slug, detail=str(exc.detail))
        raise
    job = submitted.job
    detail = f"job {job.id} ({job.kind}, {job.state})" + ("" if submitted.created else ", already queued")
    record(ctx, operator_actor(ctx), action, f"tenant {slug}", "accepted", tenant=slug, detail=detail)
    return submitted


def _tenant_view(ctx: ServiceContext, slug: str) -> dict[str, Any]:
    tenant = ctx.queue.get_tenant(slug)
    last = None
    if tenant.last_job_id:
        try:
            last = ctx.queue.get_job(tenant.last_job_id)
        except NotFound:
            last = None
    return tenant.public(last)


def list_tenants(ctx: ServiceContext = Operator) -> dict[str, Any]:
    """Every tenant the service knows, with its phase."""
    return {
        "tenants": [
            {"slug": t.slug, "plan": t.plan, "phase": t.phase, "last_error": t.last_error}
            for t in ctx.queue.list_tenants()
        ]
    }


def get_tenant(slug: str, ctx: ServiceContext = Operator) -> dict[str, Any]:
    """One tenant: phase, per-phase timings of its last job, outputs, last error."""
    return _guard(lambda: _tenant_view(ctx, slug))


def list_jobs(
    state: str | None = None, slug: str | None = None, limit: int = 100, ctx: ServiceContext = Operator
) -> dict[str, Any]:
    """Jobs, newest first, filtered by ``state`` and/or ``slug``."""
    return {"jobs": [j.public() for j in ctx.queue.list_jobs(state, slug, max(1, min(limit, 1000)))]}


def get_job(job_id: str, ctx: ServiceContext = Operator) -> dict[str, Any]:
    """One job with its progress."""
    return _guard(lambda: ctx.queue.get_job(job_id).public())


def decommission(slug: str, ctx: ServiceContext = Operator) -> JSONResponse:
    """Queue destroy-and-remove of the tenant's stack; 202 with the job.

    A tenant awaiting payment has no stack: its held signup is cancelled at once (200, phase decommissioned).
    """
    submitted = audited_job(
        ctx, "operator.decommission", slug, lambda: ctx.queue.submit(slug, "decommission", ctx.settings.max_attempts)
    )
    job = submitted.job
    if job.kind != "decommission":
        return JSONResponse(
            {"job_id": job.id, "duplicate": False, "state": job.state, "phase": ctx.queue.get_tenant(slug).phase},
            status_code=200,
        )
    return JSONResponse({"job_id": job.id, "duplicate": not submitted.created, "state": job.state}, status_code=202)


def reapply(slug: str, ctx: ServiceContext = Operator) -> JSONResponse:
    """Queue another ``up`` of the tenant's stack (converges drift); 202 with the job."""
    submitted = audited_job(
        ctx, "operator.reapply", slug, lambda: ctx.queue.submit(slug, "reapply", ctx.settings.max_attempts)
    )
    return JSONResponse({"job_id": submitted.job.id, "duplicate": not submitted.created}, status_code=202)


def cancel_job(job_id: str, ctx: ServiceContext = Operator) -> dict[str, Any]:
    """Cancel a job that has not started; 409 once it runs."""
    try:
        job = _guard(lambda: ctx.queue.cancel(job_id))
    except HTTPException as exc:
        record(ctx, operator_actor(ctx), "operator.cancel", f"job {job_id}", "refused", detail=str(exc.detail))
        raise
    record(ctx, operator_actor(ctx), "operator.cancel", f"job {job_id}", "done", tenant=job.slug, detail=job.kind)
    return job.public()


def _guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except QueueError as exc:
        raise HTTPException(exc.status, str(exc)) from None
