"""``POST /v1/signups``: verify, validate, record once, answer 202. Nothing is created for a refused request.

With ``SERVICE_REQUIRE_PAYMENT`` the signup is recorded held (job ``held``, tenant ``awaiting-payment``)
and billing's Provision releases it; a tenant whose payment already arrived is released at once.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from components.spec import TenantSpec
from service.api.context import ServiceContext, context
from service.declare import DeclarationRefused
from service.namespace import check_signup_namespace
from service.queue import HELD, QueueError, Submitted
from service.signing import HEADER, SignatureError, verify_signature
from service.signups import declaration, parse_signup


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPException(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def create_signup(request: Request) -> JSONResponse:
    """Accept a signed signup event; 202 with the job id (the same job for a repeated event)."""
    ctx = context(request)
    body = await read_limited(request, ctx.settings.max_body_bytes)
    try:
        verify_signature(ctx.settings.hmac_secret, request.headers.get(HEADER), body, ctx.settings.signature_window)
    except SignatureError as exc:
        raise HTTPException(401, str(exc)) from None
    try:
        signup = parse_signup(body)
        spec, text = declaration(signup, ctx.environment, ctx.settings.default_region)
    except DeclarationRefused as exc:
        raise HTTPException(422, [p.public() for p in exc.problems]) from None
    try:
        submitted = await run_in_threadpool(_record, ctx, signup.event_id, spec, text)
    except QueueError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    job = submitted.job
    content: dict[str, Any] = {
        "job_id": job.id,
        "slug": job.slug,
        "state": job.state,
        "duplicate": not submitted.created,
        "job": f"/v1/jobs/{job.id}",
        "tenant": f"/v1/tenants/{job.slug}",
    }
    if job.state == HELD:
        content["phase"] = ctx.queue.get_tenant(job.slug).phase
    return JSONResponse(content, status_code=202)


def _record(ctx: ServiceContext, event_id: str, spec: TenantSpec, text: str) -> Submitted:
    """Submit the signup, held for payment when the service requires it (released if already paid)."""
    slug, hold = spec.slug, ctx.settings.require_payment
    check_signup_namespace(spec, ctx.settings.git_tenants_dir, ctx.queue, ctx.environment)
    submitted = ctx.queue.submit_signup(
        event_id, slug, spec.plan, spec.dokploy_organization, text, ctx.settings.max_attempts, hold=hold
    )
    # Checked after the held signup is committed: a Provision processed meanwhile either found it held
    # and released it, or recorded the payment this check sees.
    if hold and submitted.job.state == HELD and ctx.billing is not None and ctx.billing.release_if_paid(slug):
        return Submitted(ctx.queue.get_job(submitted.job.id), submitted.created)
    return submitted
