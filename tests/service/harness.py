"""A running service for tests: the ASGI app under uvicorn on a free port, worker threads, a signed client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import uvicorn

from components.environment import load_environment
from provisioning.toolchain import PROJECT_DIR
from service.api.app import create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import JobQueue
from service.settings import Settings
from service.signing import sign
from service.worker import Worker, WorkerOptions
from tests.service.fakes import FakeEngine
from tests.service.pg import free_port

HTTP_TIMEOUT = 10


@dataclass
class RunningService:
    """The API on ``base_url`` plus whatever workers a test starts."""

    settings: Settings
    queue: JobQueue
    engine: FakeEngine
    base_url: str
    metrics: Metrics
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def worker_options(self) -> WorkerOptions:
        """Fast leases and retries for tests."""
        return WorkerOptions(self.settings.lease_seconds, self.settings.retry_base_seconds, self.settings.poll_seconds)

    def start_workers(self, count: int, prefix: str = "w") -> None:
        """Start ``count`` worker threads running the fake engine."""
        for n in range(count):
            worker = Worker(self.queue, self.engine, self.worker_options(), self.metrics, f"{prefix}{n}")
            thread = threading.Thread(target=worker.run_forever, args=(self._stop,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop_workers(self) -> None:
        """Stop every worker thread."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    # -- HTTP helpers ----------------------------------------------------------------------------------------------
    def signup(
        self,
        body: dict[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """POST a signup signed with the service's secret (unless ``signature`` overrides it)."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sig = signature if signature is not None else sign(self.settings.hmac_secret, raw, timestamp)
        return requests.post(
            f"{self.base_url}/v1/signups",
            data=raw,
            timeout=HTTP_TIMEOUT,
            headers={"Content-Type": "application/json", "X-Signature": sig, **(headers or {})},
        )

    def op(self, method: str, path: str, token: str | None = None) -> requests.Response:
        """An operator call with the bearer token (or ``token``)."""
        bearer = token if token is not None else self.settings.operator_token.get_secret_value()
        return requests.request(
            method, f"{self.base_url}{path}", timeout=HTTP_TIMEOUT, headers={"Authorization": f"Bearer {bearer}"}
        )

    def wait_job(
        self, job_id: str, states: tuple[str, ...] = ("succeeded", "failed", "cancelled"), timeout: float = 15.0
    ) -> dict[str, Any]:
        """Poll ``GET /v1/jobs/{id}`` until it reaches one of ``states``."""
        job: dict[str, Any] = wait_for(
            lambda: _if(self.op("GET", f"/v1/jobs/{job_id}").json(), lambda j: j["state"] in states),
            timeout,
            f"job {job_id} to reach {states}",
        )
        return job


def _if(value: Any, predicate: Callable[[Any], bool]) -> Any:
    return value if predicate(value) else None


def wait_for(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:<free port> in a thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> str:
        """Start serving; the base URL."""
        self.thread.start()
        wait_for(lambda: self.server.started, 10, "uvicorn to start")
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def build_service(settings: Settings, queue: JobQueue, engine: FakeEngine) -> tuple[RunningService, ServerThread]:
    """The app over ``queue`` served by uvicorn; workers are started by the test."""
    environment = load_environment(PROJECT_DIR, settings.env_name)
    metrics = Metrics(queue)
    app = create_app(ServiceContext(settings, queue, environment, metrics))
    server = ServerThread(app)
    base_url = server.start()
    return RunningService(settings, queue, engine, base_url, metrics), server


def signup_body(name: str, event_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid signup for tenant ``name``."""
    body = {
        "event_id": f"evt-{name}" if event_id is None else event_id,
        "slug": name,
        "organization_id": f"org_{name}"[:64],
        "plan": "starter",
        "contact_email": f"ops@{name}.example",
        "display_name": f"{name} Inc.",
    }
    body.update(overrides)
    return body


def declaration_files(root: Path) -> list[Path]:
    """Tenant YAML anywhere under ``root`` (a test's ``tmp_path``): a declaration travels from the queue to the
    engine in its environment, so the service writes none (git tenants a test wrote itself excepted)."""
    return sorted(p for p in root.rglob("*.y*ml") if "git-tenants" not in p.relative_to(root).parts)
