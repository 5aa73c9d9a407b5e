"""Fixtures for the Dokploy simulator tests: backend, in-process HTTP client, seeded identities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from sim.dokploy.admin import seed
from sim.dokploy.backend import Backend
from sim.dokploy.testing import MutableGuestWorld, keypair
from sim.dokploy.urls import create_app


@pytest.fixture
def world() -> MutableGuestWorld:
    return MutableGuestWorld()


@pytest.fixture
def backend(world: MutableGuestWorld) -> Backend:
    return Backend(world=world)


@pytest.fixture
def owner(backend: Backend) -> dict[str, Any]:
    """An owner of a fresh organization with a rate-limit-free key."""
    return seed(backend, {"email": "owner@example.test", "serversQuantity": 2})


@pytest.fixture
def http(backend: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(backend)) as client:
        yield client


@pytest.fixture
def api(http: TestClient, owner: dict[str, Any]):  # type: ignore[no-untyped-def]
    """``api(method, procedure, body_or_query)`` with the owner's key."""

    def call(method: str, procedure: str, data: Any = None, key: str | None = None):  # type: ignore[no-untyped-def]
        headers = {"x-api-key": key or owner["apiKey"]}
        if method == "GET":
            return http.get(f"/api/{procedure}", params=data or {}, headers=headers)
        return http.post(f"/api/{procedure}", json=data, headers=headers)

    return call


@pytest.fixture(scope="session")
def keys() -> list[tuple[str, str]]:
    """A few ed25519 key pairs (private, public)."""
    return [keypair(f"k{i}") for i in range(3)]
