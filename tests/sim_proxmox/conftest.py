"""Fixtures: an in-process backend on a fake clock, the ASGI app, and a live TLS server."""

from __future__ import annotations

from typing import Any

import pytest
from proxmoxer import ProxmoxAPI

from sim.proxmox.app import Simulator, starlette_app
from sim.proxmox.backend import Backend
from sim.proxmox.seed import credentials
from sim.proxmox.server import ThreadedServer


class FakeClock:
    """Simulated time that only moves when a test says so."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(clock: FakeClock) -> Backend:
    """Seeded 3-node cluster, fast tasks, fake clock."""
    return Backend(clock=clock, nodes=3, speed="fast")


@pytest.fixture
def slow_backend(clock: FakeClock) -> Backend:
    """Realistic durations on the fake clock, so locks and boot delays are observable."""
    return Backend(clock=clock, nodes=3, speed="realistic")


@pytest.fixture
def sim(backend: Backend) -> Simulator:
    return Simulator(backend)


@pytest.fixture
def client(sim: Simulator) -> Any:
    from starlette.testclient import TestClient

    return TestClient(starlette_app(sim), base_url="https://testserver")


@pytest.fixture
def tokens(backend: Backend) -> dict[str, str]:
    """Authorization header values of the seeded tokens."""
    return {k: f"PVEAPIToken={v['user']}!{v['token_name']}={v['token_value']}" for k, v in credentials(backend).items()}


@pytest.fixture
def live_backend(live: tuple[ThreadedServer, Backend]) -> Backend:
    server, backend = live
    backend.reset(0, 3)
    backend.settings.durations.set_speed("fast")
    server.sim.faults.set_rules([])
    return backend


def proxmox_for(server: ThreadedServer, backend: Backend, who: str = "provisioner") -> ProxmoxAPI:
    c = credentials(backend)[who]
    return ProxmoxAPI(
        "127.0.0.1",
        port=server.port,
        user=c["user"],
        token_name=c["token_name"],
        token_value=c["token_value"],
        verify_ssl=False,
        timeout=5,
    )


@pytest.fixture
def prox(live: tuple[ThreadedServer, Backend], live_backend: Backend) -> ProxmoxAPI:
    """proxmoxer with the least-privilege provisioning token."""
    return proxmox_for(live[0], live_backend)


@pytest.fixture
def prox_admin(live: tuple[ThreadedServer, Backend], live_backend: Backend) -> ProxmoxAPI:
    return proxmox_for(live[0], live_backend, "admin")
