"""Fixtures for the provisioning service: a throwaway PostgreSQL, and the service over each queue mode."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from components.environment import load_environment
from provisioning.fleet_db import FleetDatabase, fleet_location
from provisioning.toolchain import PROJECT_DIR
from service.api.app import create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import JobQueue, open_queue
from service.settings import Settings, load_settings
from tests.service.fakes import FakeEngine
from tests.service.harness import RunningService, build_service
from tests.service.pg import Cluster

HMAC_SECRET = "test-hmac-secret-0123456789abcdef"
OPERATOR_TOKEN = "test-operator-token-0123456789"


def service_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The environment ``python -m service`` would get, with fast leases and retries."""
    return {
        "SERVICE_HMAC_SECRET": HMAC_SECRET,
        "SERVICE_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "SERVICE_DATABASE_URL": database_url,
        "SERVICE_ENV": "local",
        "SERVICE_CONCURRENCY": "4",
        "SERVICE_LEASE_SECONDS": "1.5",
        "SERVICE_GIT_TENANTS_DIR": str(tmp_path / "git-tenants"),
        "SERVICE_RETRY_BASE_SECONDS": "0.1",
        "SERVICE_POLL_SECONDS": "0.05",
        "SERVICE_MAX_BODY_BYTES": "4096",
    }


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh queue database of each kind."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'queue.sqlite'}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings read from a test environment mapping."""
    return load_settings(service_env(tmp_path, database_url))


@pytest.fixture
def queue(settings: Settings) -> JobQueue:
    """The queue the settings point at."""
    return open_queue(settings.database_url)


@pytest.fixture
def engine(tmp_path: Path, settings: Settings) -> FakeEngine:
    """The fake engine (of the settings' environment)."""
    return FakeEngine(tmp_path / "engine", env_name=settings.env_name)


@pytest.fixture
def service(settings: Settings, queue: JobQueue, engine: FakeEngine) -> Iterator[RunningService]:
    """The API served over HTTP; tests start the workers they need."""
    running, server = build_service(settings, queue, engine)
    yield running
    running.stop_workers()
    server.stop()


@pytest.fixture
def client_and_db(settings: Settings, queue: JobQueue, tmp_path: Path) -> tuple[TestClient, FleetDatabase]:
    """The API over the queue with a fleet database beside the allocations (its audit trail), and that database."""
    allocations = str(tmp_path / "allocations.sqlite")
    stacks = SimpleNamespace(allocations_location=lambda: allocations, env_name="local")
    environment = load_environment(PROJECT_DIR, settings.env_name)
    ctx = ServiceContext(settings, queue, environment, Metrics(queue), backups=SimpleNamespace(stacks=stacks))  # type: ignore[arg-type]
    return TestClient(create_app(ctx)), FleetDatabase(fleet_location(allocations, "local"), "local")
