"""The ASGI application: routes declared as a list, state in one :class:`ServiceContext`."""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from provisioning.toolchain import pulumi_command
from service.api import health, operator, signups
from service.api.context import ServiceContext

ROUTES: list[BaseRoute] = [
    APIRoute("/v1/signups", signups.create_signup, methods=["POST"], status_code=202, tags=["signups"],
             summary="Accept a signed signup event"),
    APIRoute("/v1/tenants", operator.list_tenants, methods=["GET"], tags=["operator"]),
    APIRoute("/v1/tenants/{slug}", operator.get_tenant, methods=["GET"], tags=["operator"]),
    APIRoute("/v1/tenants/{slug}/decommission", operator.decommission, methods=["POST"], status_code=202,
             tags=["operator"]),
    APIRoute("/v1/tenants/{slug}/reapply", operator.reapply, methods=["POST"], status_code=202, tags=["operator"]),
    APIRoute("/v1/jobs", operator.list_jobs, methods=["GET"], tags=["operator"]),
    APIRoute("/v1/jobs/{job_id}", operator.get_job, methods=["GET"], tags=["operator"]),
    APIRoute("/v1/jobs/{job_id}/cancel", operator.cancel_job, methods=["POST"], tags=["operator"]),
    APIRoute("/healthz", health.healthz, methods=["GET"], tags=["health"]),
    APIRoute("/readyz", health.readyz, methods=["GET"], tags=["health"]),
    APIRoute("/metrics", health.metrics, methods=["GET"], tags=["health"], include_in_schema=False),
]


def default_ready_checks(ctx: ServiceContext) -> None:
    """Queue reachable, Pulumi toolchain built."""
    ctx.ready_checks.setdefault("queue", ctx.queue.ping)
    ctx.ready_checks.setdefault("toolchain", lambda: None if pulumi_command() else None)


def create_app(ctx: ServiceContext) -> FastAPI:
    """The API over ``ctx`` (no workers: ``python -m service`` starts those)."""
    default_ready_checks(ctx)
    app = FastAPI(title="Dokploy Cloud provisioning service", version="1", routes=ROUTES)
    app.state.service = ctx
    return app
