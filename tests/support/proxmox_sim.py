"""A live TLS Proxmox simulator per test module, for every folder that drives it with real clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sim.proxmox.app import Simulator
from sim.proxmox.backend import Backend
from sim.proxmox.server import ThreadedServer


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[ThreadedServer, Backend]]:
    """One TLS server per module on a free port; tests reset its state."""
    backend = Backend(nodes=3, speed="fast")
    server = ThreadedServer(Simulator(backend), port=0, tls=True).start()
    yield server, backend
    server.stop()
