"""``/healthz`` (process up), ``/readyz`` (queue reachable, toolchain present) and ``/metrics``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from service.api.context import context


def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


def readyz(request: Request) -> JSONResponse:
    """200 when every readiness check passes, else 503 naming the failing ones (no internals)."""
    checks: dict[str, str] = {}
    for name, check in context(request).ready_checks.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"failing: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


def metrics(request: Request) -> Response:
    """Prometheus text exposition of the service's registry."""
    return Response(generate_latest(context(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
