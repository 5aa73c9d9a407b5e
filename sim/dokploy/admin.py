"""Admin API of the Dokploy simulator under ``/_sim/`` (test hooks; not part of Dokploy)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from sim.world import StaticGuestWorld

from .backend import Backend
from .exceptions import TRPCError

ADMIN_PREFIX = "/_sim"


def seed(backend: Backend, body: dict[str, Any]) -> dict[str, Any]:
    """Create (or reuse) a user and an organization, a membership and an API key bound to that org.

    Keys are seeded with the rate limit off unless ``rateLimitEnabled`` is given, as the dashboard does.
    """
    user_id = (
        body.get("userId")
        or backend.seed_user(
            body.get("email", "admin@example.test"), servers_quantity=int(body.get("serversQuantity", 0))
        ).id
    )
    org_id = body.get("organizationId")
    if org_id is None:
        org_id = backend.seed_org(body.get("organizationName", "My Organization"), user_id).id
    elif body.get("role"):
        backend.add_member(org_id, user_id, body["role"], bool(body.get("canAccessToSSHKeys")))
    limits: dict[str, Any] = {"rate_limit_enabled": bool(body.get("rateLimitEnabled", False))}
    for wire, attr in (
        ("rateLimitMax", "rate_limit_max"),
        ("rateLimitTimeWindow", "rate_limit_time_window"),
        ("remaining", "remaining"),
        ("expiresIn", "expires_in"),
    ):
        if wire in body:
            limits[attr] = body[wire]
    key = backend.issue_key(user_id, org_id, body.get("keyName", "sim"), **limits)
    return {"userId": user_id, "organizationId": org_id, "apiKeyId": key.id, "apiKey": key.key}


def _configure_faults(backend: Backend, body: dict[str, Any]) -> dict[str, Any]:
    backend.faults.configure(body)
    return backend.faults.to_json()


def _actions(backend: Backend) -> dict[str, Callable[[dict[str, Any]], Any]]:
    return {
        "reset": lambda b: backend.reset(int(b.get("seed", 0))),
        "seed": lambda b: seed(backend, b),
        "faults": lambda b: _configure_faults(backend, b),
        "speed": lambda b: setattr(backend, "setup_seconds", float(b["setupSeconds"])),
        "billing": lambda b: backend.set_billing(b["userId"], int(b["serversQuantity"])),
        "services": lambda b: backend.set_services(b["serverId"], int(b["count"])),
        "world": lambda b: setattr(backend, "world", StaticGuestWorld(b["guests"])),
        "clock": lambda b: backend.advance(float(b["advance"])),
        "cloud": lambda b: setattr(backend, "cloud", bool(b["cloud"])),
        "forget-installation": lambda b: backend.forget_installation(b["node"], int(b["vmid"])),
    }


async def admin_post(request: Request) -> JSONResponse:
    """POST /_sim/<action> with a JSON body; 400 ``{"error": ...}`` names the bad field."""
    backend: Backend = request.app.state.backend
    action = _actions(backend).get(request.path_params["action"])
    if action is None:
        return JSONResponse({"error": f"unknown admin action {request.path_params['action']!r}"}, 404)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
        with backend.lock:
            result = action(body)
    except KeyError as exc:
        return JSONResponse({"error": f"{exc.args[0]}: required"}, 400)
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, 400)
    except TRPCError as exc:
        return JSONResponse({"error": exc.message}, exc.status)
    return JSONResponse({"ok": True} if result is None else result)


async def admin_state(request: Request) -> JSONResponse:
    """GET /_sim/state: everything except secrets."""
    backend: Backend = request.app.state.backend
    with backend.lock:
        return JSONResponse(backend.state())


AdminHandler = Callable[[Request], Awaitable[JSONResponse]]
