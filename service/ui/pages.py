"""The operator pages: fleet table, one tenant (servers, runs with their phase timings, backups, reconcile,
alerts) and the reconcile report. Server-rendered with Jinja2 (autoescaped); behind the operator token.

Sign-in: ``POST /ui/login`` with the operator token sets an HttpOnly, SameSite=Strict cookie holding an HMAC
of the token (never the token itself); an ``Authorization: Bearer`` header works too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import requests
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from provisioning.declarations import stored_tenant
from provisioning.fleet_db import fleet_database
from service.api.context import ServiceContext, context

COOKIE = "dc_ui"
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)
ALERTS_TIMEOUT = 3.0
MAX_BAR_PX = 240


def _when(value: float | None) -> str:
    if not value:
        return "-"
    return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


TEMPLATES.filters["when"] = _when


def _session_value(ctx: ServiceContext) -> str:
    token = ctx.settings.operator_token.get_secret_value().encode()
    return hmac.new(token, b"dokploy-cloud-ui-session:v1", hashlib.sha256).hexdigest()


def _signed_in(request: Request, ctx: ServiceContext) -> bool:
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    expected_token = ctx.settings.operator_token.get_secret_value().encode()
    if scheme.lower() == "bearer" and hmac.compare_digest(bearer.strip().encode(), expected_token):
        return True
    return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), _session_value(ctx).encode())


def _render(ctx: ServiceContext, name: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(env=ctx.settings.env_name, **values)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _guard(request: Request) -> tuple[ServiceContext, Response | None]:
    ctx = context(request)
    if not _signed_in(request, ctx):
        return ctx, RedirectResponse("/ui/login", status_code=303)
    return ctx, None


async def login_form(request: Request) -> Response:
    return _render(context(request), "login.html", signed_in=False)


async def login(request: Request) -> Response:
    ctx = context(request)
    form = parse_qs((await request.body()).decode(errors="replace"))
    given = (form.get("token") or [""])[0].strip().encode()
    if not hmac.compare_digest(given, ctx.settings.operator_token.get_secret_value().encode()):
        return _render(ctx, "login.html", status=401, signed_in=False, error="That is not the operator token.")
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(COOKIE, _session_value(ctx), httponly=True, samesite="strict", path="/ui")
    return response


async def logout(_request: Request) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _report(ctx: ServiceContext) -> dict[str, Any] | None:
    if ctx.backups is None:
        return None
    try:
        return fleet_database(ctx.backups.stacks).latest_report()
    except Exception:  # the page still shows the queue's view
        return None


def _alerts(ctx: ServiceContext, tenant: str | None = None) -> list[dict[str, Any]] | None:
    """Active alerts from Alertmanager (``SERVICE_ALERTMANAGER_URL``); None when unset or unreachable."""
    url = ctx.settings.alertmanager_url
    if not url:
        return None
    params: dict[str, Any] = {"active": "true", "silenced": "false", "inhibited": "false"}
    if tenant:
        params["filter"] = f'tenant="{tenant}"'
    try:
        resp = requests.get(f"{url.rstrip('/')}/api/v2/alerts", params=params, timeout=ALERTS_TIMEOUT)
        resp.raise_for_status()
        return list(resp.json())
    except (requests.RequestException, ValueError):
        return None


async def fleet_page(request: Request) -> Response:
    ctx, redirect = _guard(request)
    if redirect:
        return redirect
    tenants = ctx.queue.list_tenants()
    report = _report(ctx)
    age = f"{int(time.time() - report['generated_at'])} s" if report else ""
    return _render(
        ctx,
        "fleet.html",
        signed_in=True,
        tenants=tenants,
        ready=sum(1 for t in tenants if t.phase == "ready"),
        report=report,
        report_age=age,
        verdicts=(report or {}).get("tenants", {}),
        alerts=_alerts(ctx),
    )


async def tenant_page(request: Request) -> Response:
    ctx, redirect = _guard(request)
    if redirect:
        return redirect
    slug = request.path_params["slug"]
    try:
        tenant = ctx.queue.get_tenant(slug)
    except Exception:
        return _render(ctx, "reconcile.html", status=404, signed_in=True, report=None)
    out = tenant.outputs
    servers = [
        {
            "hostname": _at(out.get("hostnames"), i),
            "address": _at(out.get("addresses"), i),
            "vmid": _at(out.get("vmIds"), i),
            "node": _at(out.get("nodes"), i),
            "dokploy": _at(out.get("dokployServerIds"), i),
        }
        for i in range(len(out.get("hostnames") or []))
    ]
    jobs = ctx.queue.list_jobs(slug=slug, limit=10)
    longest = max((t.get("seconds", 0.0) for j in jobs for t in j.phases.values()), default=0.0)
    backups, backups_error, has_backups = None, "", False
    if ctx.backups is not None:
        try:
            spec = stored_tenant(slug, tenant.declaration, ctx.environment)
            has_backups = ctx.environment.plans[spec.plan].backups is not None
            backups = ctx.backups.backups(spec)
        except Exception as exc:  # Proxmox unreachable: the rest of the page still helps
            backups_error = f"{type(exc).__name__}: {exc}"
    report = _report(ctx) or {}
    return _render(
        ctx,
        "tenant.html",
        signed_in=True,
        tenant=tenant,
        servers=servers,
        jobs=jobs,
        scale=MAX_BAR_PX / longest if longest else 0.0,
        backups=backups,
        backups_error=backups_error,
        has_backups=has_backups,
        verdict=report.get("tenants", {}).get(slug),
        findings=[f for f in report.get("findings", []) if f.get("tenant") == slug],
        alerts=_alerts(ctx, slug),
    )


def _at(values: Any, index: int) -> Any:
    return values[index] if isinstance(values, list) and index < len(values) else "-"


async def reconcile_page(request: Request) -> Response:
    ctx, redirect = _guard(request)
    if redirect:
        return redirect
    return _render(ctx, "reconcile.html", signed_in=True, report=_report(ctx))
