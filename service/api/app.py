"""The ASGI application: routes declared as a list, state in one :class:`ServiceContext`."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from billing.adapter.runtime import billing_runtime
from billing.adapter.usage_report import usage_job
from provisioning.toolchain import pulumi_command
from service.api import backups, fleet, health, keys, operator, signups, stripe
from service.api.audit import audit_trail
from service.api.context import ServiceContext
from service.logs import log_context
from service.settings import SettingsError
from service.ui import pages

access_log = logging.getLogger("service.access")
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: every few seconds each, nothing to read in them."""
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ROUTES: list[BaseRoute] = [
    APIRoute(
        "/v1/signups",
        signups.create_signup,
        methods=["POST"],
        status_code=202,
        tags=["signups"],
        summary="Accept a signed signup event",
    ),
    APIRoute(
        "/v1/stripe/webhook",
        stripe.stripe_webhook,
        methods=["POST"],
        tags=["billing"],
        summary="Accept a Stripe-signed billing event",
    ),
    APIRoute(
        "/v1/tenants/{slug}/checkout-session",
        stripe.create_checkout_session,
        methods=["POST"],
        status_code=201,
        tags=["billing"],
        summary="Create a Stripe Checkout Session for a known tenant or held signup",
    ),
    APIRoute("/v1/tenants", operator.list_tenants, methods=["GET"], tags=["operator"]),
    APIRoute("/v1/tenants/{slug}", operator.get_tenant, methods=["GET"], tags=["operator"]),
    APIRoute(
        "/v1/tenants/{slug}/decommission", operator.decommission, methods=["POST"], status_code=202, tags=["operator"]
    ),
    APIRoute("/v1/tenants/{slug}/reapply", operator.reapply, methods=["POST"], status_code=202, tags=["operator"]),
    APIRoute("/v1/tenants/{slug}/rotate-keys", keys.rotate_keys, methods=["POST"], status_code=202, tags=["security"]),
    APIRoute("/v1/tenants/{slug}/ssh-key", keys.read_private_key, methods=["GET"], tags=["security"]),
    APIRoute("/v1/tenants/{slug}/backups", backups.list_backups, methods=["GET"], tags=["backups"]),
    APIRoute("/v1/tenants/{slug}/backups", backups.back_up, methods=["POST"], status_code=202, tags=["backups"]),
    APIRoute("/v1/tenants/{slug}/backups/protect", backups.protect, methods=["POST"], tags=["backups"]),
    APIRoute("/v1/tenants/{slug}/restore", backups.restore, methods=["POST"], status_code=202, tags=["backups"]),
    APIRoute("/v1/tenants/{slug}/undelete", backups.undelete, methods=["POST"], status_code=202, tags=["backups"]),
    APIRoute("/v1/archives", backups.list_archives, methods=["GET"], tags=["backups"]),
    APIRoute("/v1/reconcile", fleet.latest_report, methods=["GET"], tags=["fleet"]),
    APIRoute("/v1/audit", fleet.audit_events, methods=["GET"], tags=["fleet"]),
    APIRoute("/v1/audit/export", fleet.audit_export, methods=["GET"], tags=["fleet"]),
    APIRoute("/v1/audit/verify", fleet.audit_verify, methods=["GET"], tags=["fleet"]),
    APIRoute("/v1/jobs", operator.list_jobs, methods=["GET"], tags=["operator"]),
    APIRoute("/v1/jobs/{job_id}", operator.get_job, methods=["GET"], tags=["operator"]),
    APIRoute("/v1/jobs/{job_id}/cancel", operator.cancel_job, methods=["POST"], tags=["operator"]),
    Route("/ui", pages.fleet_page, methods=["GET"]),
    Route("/ui/login", pages.login_form, methods=["GET"]),
    Route("/ui/login", pages.login, methods=["POST"]),
    Route("/ui/logout", pages.logout, methods=["GET"]),
    Route("/ui/reconcile", pages.reconcile_page, methods=["GET"]),
    Route("/ui/tenants/{slug}", pages.tenant_page, methods=["GET"]),
    APIRoute("/healthz", health.healthz, methods=["GET"], tags=["health"]),
    APIRoute("/readyz", health.readyz, methods=["GET"], tags=["health"]),
    APIRoute("/metrics", health.metrics, methods=["GET"], tags=["health"], include_in_schema=False),
]


def _toolchain_built() -> None:
    """Raises (the check fails) when the Pulumi CLI has not been built."""
    pulumi_command()


def default_ready_checks(ctx: ServiceContext) -> None:
    """Queue reachable, Pulumi toolchain built."""
    ctx.ready_checks.setdefault("queue", ctx.queue.ping)
    ctx.ready_checks.setdefault("toolchain", _toolchain_built)


def create_app(ctx: ServiceContext) -> FastAPI:
    """The API over ``ctx`` (no workers: ``python -m service`` starts those)."""
    default_ready_checks(ctx)
    if ctx.billing is None:
        ctx.billing = billing_runtime(ctx.settings, ctx.queue, ctx.environment)
    if ctx.settings.require_payment and ctx.billing is None:
        raise SettingsError(
            "SERVICE_REQUIRE_PAYMENT needs billing: set STRIPE_WEBHOOK_SECRET and SERVICE_BILLING_CONFIG"
        )
    if ctx.billing is not None:
        ctx.metrics.watch_billing(ctx.billing.sink.timers.pending)
        ctx.billing.sink.audit = audit_trail(ctx)
    if ctx.usage is None and ctx.billing is not None:
        store = ctx.billing.store
        ctx.usage = usage_job(ctx.settings, ctx.queue, lambda slug: store.state(slug).customer, ctx.metrics)
    app = FastAPI(title="Dokploy Cloud provisioning service", version="1", routes=ROUTES, lifespan=_lifespan)
    app.state.service = ctx
    app.middleware("http")(_request_id)
    return app


async def _request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Every request gets an id (the caller's ``X-Request-Id`` if it sent a sane one), in its log records (and
    one access record: method, path, status, duration; the query string is left out, it may carry filters
    only, but never a credential) and echoed in the response's ``X-Request-Id``."""
    given = request.headers.get("x-request-id", "")
    request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    started = time.monotonic()
    with log_context(request_id=request_id):
        response = await call_next(request)
        if request.url.path not in QUIET_PATHS:
            access_log.info(
                "%s %s %d %.1f ms",
                request.method,
                request.url.path,
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
    response.headers["X-Request-Id"] = request_id
    return response


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the billing timer (due suspensions, queued billing actions) and the usage report while the app serves."""
    ctx: ServiceContext = app.state.service
    stop = threading.Event()
    threads = [job.start(stop) for job in (ctx.billing, ctx.usage) if job is not None]
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
