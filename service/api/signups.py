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
from ipam.store import open_store
from provisioning import fleet_clients
from provisioning.fleet_db import fleet_database
from provisioning.region_choice import RegionChoice, RegionChoiceError, choose_region
from service.api.audit import credential_actor, record
from service.api.context import ServiceContext, context
from service.declare import DeclarationRefused, FieldProblem
from service.namespace import check_signup_namespace
from service.queue import HELD, QueueError, Submitted
from service.signing import HEADER, SignatureError, verify_signature
from service.signups import Signup, declaration, parse_signup, slug_from_organization

AUTO = "auto"
"""A signup's region that asks the placer to choose."""


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
    ctx.signup_limit.check(request)  # before anything else: unsigned floods are counted too
    body = await read_limited(request, ctx.settings.max_body_bytes)
    try:
        verify_signature(ctx.settings.hmac_secret, request.headers.get(HEADER), body, ctx.settings.signature_window)
    except SignatureError as exc:
        raise HTTPException(401, str(exc)) from None
    choice: RegionChoice | None = None
    try:
        signup = parse_signup(body)
        if signup.region == AUTO:
            choice = await run_in_threadpool(_choose_region, ctx, signup)
            signup = signup.model_copy(update={"region": choice.region})
        elif signup.regions:
            raise DeclarationRefused([FieldProblem("regions", "a preference list goes with region 'auto' only")])
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
    if choice is not None:
        content["region"] = {"chosen": choice.region, "reason": choice.reason, "considered": choice.verdicts}
        if submitted.created and ctx.backups is not None:
            await run_in_threadpool(_audit_choice, ctx, spec.slug, choice)
    return JSONResponse(content, status_code=202)


def _choose_region(ctx: ServiceContext, signup: Signup) -> RegionChoice:
    """The placer's region for an ``auto`` signup (:mod:`provisioning.region_choice`); refusals name the field."""
    if ctx.backups is None:
        raise DeclarationRefused([FieldProblem("region", "'auto' needs the service's Proxmox access; name a region")])
    stacks = ctx.backups.stacks
    plan = signup.plan
    if plan not in ctx.environment.plans:
        raise DeclarationRefused([FieldProblem("plan", f"must be one of {sorted(ctx.environment.plans)}")])
    slug = signup.slug or slug_from_organization(signup.organization or "") or "new-tenant"
    try:
        return choose_region(
            ctx.environment,
            open_store(stacks.allocations_location()),
            lambda region: fleet_clients.proxmox(stacks, region, read_only=True),
            plan,
            signup.servers or 1,
            slug,
            signup.regions or (),
        )
    except RegionChoiceError as exc:
        raise DeclarationRefused([FieldProblem("regions" if signup.regions else "region", str(exc))]) from None


def _audit_choice(ctx: ServiceContext, slug: str, choice: RegionChoice) -> None:
    """Record the placer's region decision in the audit trail (``cloudctl audit --action place.region``)."""
    assert ctx.backups is not None
    detail = choice.reason + " | " + "; ".join(f"{r}: {v}" for r, v in choice.verdicts.items() if r != choice.region)
    fleet_database(ctx.backups.stacks).audit(
        "service", "place.region", choice.region, "succeeded", tenant=slug, detail=detail
    )


def _record(ctx: ServiceContext, event_id: str, spec: TenantSpec, text: str) -> Submitted:
    """Submit the signup, held for payment when the service requires it (released if already paid)."""
    slug, hold = spec.slug, ctx.settings.require_payment
    check_signup_namespace(spec, ctx.settings.git_tenants_dir, ctx.queue, ctx.environment)
    submitted = ctx.queue.submit_signup(
        event_id, slug, spec.plan, spec.dokploy_organization, text, ctx.settings.max_attempts, hold=hold
    )
    # Checked after the held signup is committed: a Provision processed meanwhile either found it held
    # and released it, or recorded the payment this check sees.
    if submitted.created:
        signer = credential_actor("signup-signer", ctx.settings.hmac_secret.get_secret_value())
        detail = f"event {event_id}, plan {spec.plan}, organization {spec.dokploy_organization}, job {submitted.job.id}"
        record(
            ctx, signer, "signup.accepted", f"tenant {slug}", "held" if hold else "queued", tenant=slug, detail=detail
        )
    if hold and submitted.job.state == HELD and ctx.billing is not None and ctx.billing.release_if_paid(slug):
        return Submitted(ctx.queue.get_job(submitted.job.id), submitted.created)
    return submitted
