"""Fixtures: one Dokploy simulator server per session, reset and re-seeded for every test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from clients.dokploy import DokployClient, RetryPolicy
from sim.dokploy.admin import seed
from sim.dokploy.backend import Backend
from sim.dokploy.server import ThreadedServer
from sim.dokploy.testing import MutableGuestWorld, keypair


@pytest.fixture(scope="session")
def dokploy_server() -> Iterator[ThreadedServer]:
    server = ThreadedServer(Backend(world=MutableGuestWorld())).start()
    yield server
    server.stop()


@pytest.fixture
def world(dokploy_server: ThreadedServer) -> MutableGuestWorld:
    world = MutableGuestWorld()
    dokploy_server.backend.world = world
    return world


@pytest.fixture
def sim(dokploy_server: ThreadedServer, world: MutableGuestWorld) -> ThreadedServer:
    """The running simulator, emptied (the world fixture is installed)."""
    with dokploy_server.backend.lock:
        dokploy_server.backend.reset()
        dokploy_server.backend.cloud = False
    return dokploy_server


@pytest.fixture
def account(sim: ThreadedServer) -> dict[str, Any]:
    with sim.backend.lock:
        return seed(sim.backend, {"email": "ops@example.test", "serversQuantity": 5})


@pytest.fixture
def client(sim: ThreadedServer, account: dict[str, Any]) -> DokployClient:
    return DokployClient(sim.url, account["apiKey"], timeout=5.0, retry=RetryPolicy(attempts=3, initial=0.01))


@pytest.fixture
def admin(sim: ThreadedServer):  # type: ignore[no-untyped-def]
    """POST to the simulator's admin API."""

    def post(action: str, body: dict[str, Any]) -> Any:
        resp = requests.post(f"{sim.url}/_sim/{action}", json=body, timeout=5)
        assert resp.status_code == 200, resp.text
        return resp.json()

    return post


@pytest.fixture(scope="session")
def keys() -> list[tuple[str, str]]:
    return [keypair(f"k{i}") for i in range(3)]
