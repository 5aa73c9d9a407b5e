"""Tenant SSH keys: the operator queues a rotation; the break-glass role reads a tenant's private key.

``GET /v1/tenants/{slug}/ssh-key?reason=...`` answers only the break-glass bearer token
(``SERVICE_BREAKGLASS_TOKEN``, a role apart from the operator's), says why in its ``reason`` (recorded), and
is never cached. Every read, granted or refused with a credential, is in the audit trail; the key itself is
never logged or recorded.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from provisioning.state_backend import CheckpointUnreadable
from provisioning.tenant_keys import NoTenantKey, private_key
from provisioning.vault_store import VaultError
from service.api.audit import credential_actor, record
from service.api.context import ServiceContext, context
from service.api.operator import Operator, audited_job, operator_actor
from service.declare import stored_spec
from service.queue import NotFound
from service.queue.base import ROTATION_PARAMS

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def rotate_keys(slug: str, ctx: ServiceContext = Operator) -> JSONResponse:
    """Queue a rotation of the tenant's SSH key pair on every server (no downtime); 202 with the job."""
    try:
        spec = stored_spec(ctx.queue, ctx.environment, slug)
    except NotFound:
        raise HTTPException(404, f"no tenant {slug!r}") from None
    if spec.suspended:
        detail = f"tenant {slug!r} is suspended: its servers are off and cannot take a new key; rotate after resume"
        record(
            ctx, operator_actor(ctx), "operator.rotate-keys", f"tenant {slug}", "refused", tenant=slug, detail=detail
        )
        raise HTTPException(409, detail)
    plan = ctx.environment.plans.get(spec.plan)
    if plan is not None and plan.is_lxc:
        detail = (
            f"tenant {slug!r} is on lxc plan {spec.plan!r}: a container's SSH keys are set only when it is created, "
            "so key rotation is not supported (docs/platform/lxc.md)"
        )
        record(
            ctx, operator_actor(ctx), "operator.rotate-keys", f"tenant {slug}", "refused", tenant=slug, detail=detail
        )
        raise HTTPException(409, detail)
    submitted = audited_job(
        ctx,
        "operator.rotate-keys",
        slug,
        lambda: ctx.queue.submit(slug, "rotate-keys", ctx.settings.max_attempts, ROTATION_PARAMS),
    )
    return JSONResponse({"job_id": submitted.job.id, "duplicate": not submitted.created}, status_code=202)


def _breakglass_actor(request: Request, ctx: ServiceContext) -> str:
    """The audit actor of a break-glass request; 401 without a bearer token, 403 with one of another role."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "break-glass bearer token required", headers={"WWW-Authenticate": "Bearer"})
    expected = ctx.settings.breakglass_token
    if expected is not None and hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return credential_actor("break-glass", token)
    if hmac.compare_digest(token.encode(), ctx.settings.operator_token.get_secret_value().encode()):
        record(ctx, operator_actor(ctx), "secret.read", request.url.path, "refused", detail="operator role")
        raise HTTPException(403, "reading a private key needs the break-glass role, not the operator's")
    raise HTTPException(401, "break-glass bearer token required", headers={"WWW-Authenticate": "Bearer"})


async def read_private_key(
    slug: str, request: Request, reason: str = Query("", description="why the key is needed (recorded)")
) -> JSONResponse:
    """The tenant's current private key, for break-glass access to its servers."""
    ctx = context(request)
    actor = _breakglass_actor(request, ctx)
    subject = f"tenant {slug} ssh key"
    if len(reason.strip()) < 8:
        record(ctx, actor, "secret.read", subject, "refused", tenant=slug, detail="no reason given")
        raise HTTPException(422, "say why the key is needed: ?reason=... (at least 8 characters; it is recorded)")
    if ctx.backups is None:
        raise HTTPException(503, "this API process has no access to the tenant stacks")
    try:
        facts, pem = await run_in_threadpool(private_key, ctx.backups.stacks, slug)
    except NoTenantKey as exc:
        record(ctx, actor, "secret.read", subject, "not-found", tenant=slug, detail=reason.strip()[:200])
        raise HTTPException(404, str(exc)) from None
    except (VaultError, CheckpointUnreadable) as exc:
        record(ctx, actor, "secret.read", subject, "failed", tenant=slug, detail=type(exc).__name__)
        raise HTTPException(503, str(exc)) from None
    detail = f"fingerprint {facts.fingerprint}, generation {facts.generation}, {facts.backend}: {reason.strip()[:200]}"
    record(ctx, actor, "secret.read", subject, "granted", tenant=slug, detail=detail)
    body = {**facts.to_json(), "private_key": pem}
    return JSONResponse(body, headers=NO_STORE)
