"""The provisioning service against the real engine: a local cloud on free ports with its own backend.

The cloud (Proxmox simulators, Dokploy simulator, PowerDNS) is shared by a module's tests; each test
gets its own queue database and tenants directory, and unique tenant slugs, so tests never see each
other's tenants. Helpers come from ``tests/e2e`` (environment on free ports) and ``tests/service``
(uvicorn thread, signing, PostgreSQL cluster).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.pg import Cluster
from tests.service_e2e.harness import EngineCloud, EngineService, start_cloud
from tests.service_e2e.killpoints import SUMMARY


@pytest.fixture(scope="module")
def engine_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineCloud]:
    """A whole local cloud, its own state backend and allocation store; the process env points at it."""
    cloud = start_cloud(tmp_path_factory.mktemp("svc-cloud"))
    try:
        yield cloud
    finally:
        cloud.stop()


def queue_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh queue database of ``kind`` (sqlite or postgres)."""
    if kind == "sqlite":
        return f"sqlite://{tmp_path / 'queue.sqlite'}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"e2e_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def service(engine_cloud: EngineCloud, tmp_path: Path) -> Iterator[EngineService]:
    """The API (uvicorn thread) over a fresh SQLite queue; tests start the workers they need."""
    running = EngineService.start(engine_cloud, tmp_path, f"sqlite://{tmp_path / 'queue.sqlite'}")
    try:
        yield running
    finally:
        running.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the crash-recovery tables and the soak's report when those tests ran."""
    if SUMMARY:
        terminalreporter.section("crash recovery: kill points, kill-point sweep, fault soak")
        for line in SUMMARY:
            terminalreporter.write_line(line)
