"""Routes of the Dokploy simulator, declared as a list, and the app factory."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from .admin import ADMIN_PREFIX, admin_post, admin_state
from .app import api_endpoint
from .backend import Backend

ROUTES = [
    Route("/api/{name}", api_endpoint, methods=["GET", "POST", "HEAD", "PUT", "PATCH", "DELETE"]),
    Route(ADMIN_PREFIX + "/state", admin_state, methods=["GET"]),
    Route(ADMIN_PREFIX + "/{action}", admin_post, methods=["POST"]),
]


def create_app(backend: Backend | None = None) -> Starlette:
    """A Starlette app serving ``backend`` (a fresh self-hosted one by default)."""
    app = Starlette(routes=ROUTES)
    app.state.backend = backend or Backend()
    return app
