"""The service on the real engine for tests: a local cloud, the API, worker threads or worker processes."""

from __future__ import annotations

import json
import os
import secrets
import signal
import string
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from components.environment import Environment, load_environment
from components.spec import TenantSpec
from provisioning.declarations import stored_tenant
from provisioning.runner import CrashSafeRunner
from provisioning.stacks import TenantStacks
from provisioning.tenant_backups import TenantBackups
from provisioning.toolchain import PROJECT_DIR
from scripts.localenv.cloud import LocalCloud
from service.api.app import create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import JobQueue, open_queue
from service.settings import Settings, load_settings
from service.signing import sign
from service.signups import declaration, parse_signup
from service.worker import Worker, WorkerOptions
from sim.dokploy.backend import Backend as DokployBackend
from sim.proxmox.backend import Backend as ProxmoxBackend
from sim.proxmox.tasks import REALISTIC
from tests.e2e.conftest import write_environment
from tests.service.conftest import service_env
from tests.service.harness import ServerThread, signup_body, wait_for

HTTP_TIMEOUT = 15
JOB_TIMEOUT = 240.0
SERVICE_ENV = {
    "SERVICE_LEASE_SECONDS": "4",
    "SERVICE_RETRY_BASE_SECONDS": "0.5",
    "SERVICE_POLL_SECONDS": "0.1",
    "SERVICE_MAX_ATTEMPTS": "6",
    "SERVICE_CONCURRENCY": "2",
    "SERVICE_RECONCILE_SECONDS": "3600",  # tests that reconcile through the service set their own
}


@dataclass
class EngineCloud:
    """A running local cloud, the environment pointing at it and the process env every run needs."""

    root: Path
    cloud: LocalCloud
    environment: Environment
    env: dict[str, str]
    """Credentials, environment file, backend, passphrase, allocation store (also set in os.environ)."""
    patch: pytest.MonkeyPatch

    @property
    def dokploy(self) -> DokployBackend:
        assert self.cloud.dokploy is not None
        return self.cloud.dokploy[0]

    def proxmox(self, region: str | None = None) -> ProxmoxBackend:
        """The Proxmox simulator backend of ``region`` (default: the first)."""
        return self.cloud.proxmox[region or next(iter(self.environment.regions))][0].backend

    def proxmox_backends(self) -> list[ProxmoxBackend]:
        return [sim.backend for sim, _ in self.cloud.proxmox.values()]

    @property
    def backend_dir(self) -> Path:
        return self.root / "backend"

    def set_speed(self, scale: float = 0.0, *, setup_seconds: float = 0.0, **seconds: float) -> None:
        """Proxmox task durations: ``scale`` times the realistic table, except tasks named in ``seconds``
        (``qmclone=2``, ``agent_boot=1``), which take exactly that; Dokploy's setup takes ``setup_seconds``.
        The same knobs as the simulators' ``/_sim/speed`` admin calls."""
        for backend in self.proxmox_backends():
            durations = backend.settings.durations
            durations.set_speed(1.0)
            durations.table = {k: v * scale for k, v in REALISTIC.items()}
            durations.table.update(seconds)
        self.dokploy.setup_seconds = setup_seconds

    def add_organization(self, body: dict[str, Any]) -> None:
        """What Dokploy Cloud's own signup leaves behind for this signup's organization."""
        spec, _ = declaration(parse_signup(json.dumps(body).encode()), self.environment, None)
        self.cloud.add_tenant(self.dokploy, spec)

    def stop(self) -> None:
        """Stop the services; drop the stack files the engine wrote into the project for this cloud's stacks."""
        self.cloud.stop()
        self.patch.undo()
        for checkpoint in (self.backend_dir / ".pulumi" / "stacks").glob("*/local.*.json"):
            (PROJECT_DIR / f"Pulumi.{checkpoint.name[: -len('.json')]}.yaml").unlink(missing_ok=True)


def start_cloud(
    root: Path,
    monitor_token: str | None = None,
    tweak: Callable[[dict[str, Any]], None] | None = None,
    node_mem_gib: int = 64,
) -> EngineCloud:
    """Start the services of a local environment on free ports; point this process's env at them (``tweak``
    changes the environment's settings, e.g. to give a region a warm pool; ``node_mem_gib`` sizes each node
    for runs that leave many tenants behind)."""
    write_environment(root / "Pulumi.e2e.yaml", tweak)
    credentials = {
        "PROXMOX_VE_API_TOKEN": f"dokploy-cloud@pve!svc={uuid.uuid4()}",
        "DOKPLOY_API_KEY": "".join(secrets.choice(string.ascii_letters) for _ in range(64)),
        "PDNS_API_KEY": secrets.token_urlsafe(24),
    }
    (root / "backend").mkdir()
    env = {
        **credentials,
        "DOKPLOY_CLOUD_ENV_FILE": str(root / "Pulumi.e2e.yaml"),
        "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "e2e",
        "ALLOCATIONS_DB": str(root / "allocations.sqlite"),
    }
    patch = pytest.MonkeyPatch()
    for name, value in env.items():
        patch.setenv(name, value)
    try:
        environment = load_environment(PROJECT_DIR, "local")
        cloud = LocalCloud(environment, credentials, {}, monitor_token=monitor_token, node_mem_gib=node_mem_gib).start()
    except BaseException:
        patch.undo()
        raise
    return EngineCloud(root, cloud, environment, env, patch)


def new_signup(prefix: str) -> dict[str, Any]:
    """A valid signup body for a fresh, unique tenant."""
    return signup_body(f"{prefix}{uuid.uuid4().hex[:6]}")


def session_members(session: int) -> list[int]:
    """Live (non-zombie) processes in session ``session``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(stat.parent.name))
    return members


def kill_session(leader: int) -> None:
    """SIGKILL every live process of session ``leader`` (the leader too), until none is left."""
    for _ in range(50):
        pids = session_members(leader)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


@dataclass
class WorkerProcess:
    """``python -m service --workers-only`` in its own session (so a kill takes its engine processes too)."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL the worker and every process it started (pulumi, language host, plugins): a lost machine.

        Plugins run in process groups of their own, so everything in the worker's session is killed."""
        kill_session(self.proc.pid)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()

    def wait_started(self, timeout: float = 60.0) -> None:
        """Wait until the process has loaded its settings and started its workers."""
        wait_for(
            lambda: "service starting" in self.log.read_text(errors="replace") or self.proc.poll() is not None,
            timeout,
            f"worker {self.name} to start",
        )
        assert self.proc.poll() is None, f"worker {self.name} exited: see {self.log}"

    def recovery_reports(self) -> list[dict[str, Any]]:
        """The ``recovery: {json}`` lines this worker logged."""
        reports = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:  # the service logs JSON lines (service/logs.py); the recovery report is in the message
                message = str(json.loads(line).get("message", "")) if line.startswith("{") else line
            except json.JSONDecodeError:
                message = line
            _, found, payload = message.partition("recovery: ")
            if found and payload.startswith("{"):
                reports.append(json.loads(payload))
        return reports


@dataclass
class EngineService:
    """The API on ``base_url`` with worker threads and/or worker processes on the real engine."""

    cloud: EngineCloud
    settings: Settings
    env: dict[str, str]
    queue: JobQueue
    server: ServerThread
    base_url: str
    root: Path
    """The service's own directory (queue file, worker logs)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _procs: list[WorkerProcess] = field(default_factory=list)

    @classmethod
    def start(cls, cloud: EngineCloud, tmp_path: Path, database_url: str, **overrides: str) -> EngineService:
        env = {**service_env(tmp_path, database_url), **SERVICE_ENV, **overrides}
        settings = load_settings(env)
        queue = open_queue(settings.database_url)
        backups = TenantBackups(TenantStacks(settings.env_name))
        app = create_app(ServiceContext(settings, queue, cloud.environment, Metrics(queue), backups=backups))
        server = ServerThread(app)
        return cls(cloud, settings, env, queue, server, server.start(), tmp_path)

    def runner(self) -> CrashSafeRunner:
        return CrashSafeRunner(TenantStacks(self.settings.env_name))

    def declared(self, slug: str) -> TenantSpec:
        """The tenant's declaration as the service stores it, parsed as a worker does."""
        return stored_tenant(slug, self.queue.get_tenant(slug).declaration, self.cloud.environment)

    def start_worker_threads(self, count: int) -> None:
        """``count`` workers in this process, sharing one engine runner (as ``python -m service`` does)."""
        runner = self.runner()
        options = WorkerOptions(
            self.settings.lease_seconds, self.settings.retry_base_seconds, self.settings.poll_seconds
        )
        backups = TenantBackups(runner.stacks)
        for n in range(count):
            worker = Worker(self.queue, runner, options, worker_id=f"thread{n}", backups=backups)
            thread = threading.Thread(target=worker.run_forever, args=(self._stop,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def start_worker_process(
        self, name: str, concurrency: int = 1, extra_env: dict[str, str] | None = None
    ) -> WorkerProcess:
        """A real ``python -m service --workers-only`` process (``extra_env`` added to its environment, e.g. a
        failpoint); its log goes to ``<root>/<name>.log``."""
        log = self.root / f"{name}.log"
        env = {
            **os.environ,
            **self.cloud.env,
            **self.env,
            "SERVICE_CONCURRENCY": str(concurrency),
            "PYTHONPATH": str(PROJECT_DIR),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "service", "--workers-only"],
                cwd=PROJECT_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(name, proc, log)
        self._procs.append(worker)
        return worker

    def signup(self, body: dict[str, Any]) -> requests.Response:
        """POST a signup signed with the service's secret."""
        raw = json.dumps(body).encode()
        return requests.post(
            f"{self.base_url}/v1/signups",
            data=raw,
            timeout=HTTP_TIMEOUT,
            headers={"Content-Type": "application/json", "X-Signature": sign(self.settings.hmac_secret, raw)},
        )

    def op(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        """An operator call with the bearer token (and a JSON ``body``)."""
        return requests.request(
            method,
            f"{self.base_url}{path}",
            json=body,
            timeout=HTTP_TIMEOUT,
            headers={"Authorization": f"Bearer {self.settings.operator_token.get_secret_value()}"},
        )

    def job(self, job_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.op("GET", f"/v1/jobs/{job_id}").json()
        return body

    def tenant(self, slug: str) -> dict[str, Any]:
        body: dict[str, Any] = self.op("GET", f"/v1/tenants/{slug}").json()
        return body

    def wait_job(self, job_id: str, timeout: float = JOB_TIMEOUT) -> dict[str, Any]:
        """Poll the job over HTTP until it ends (succeeded, failed, cancelled)."""
        done: dict[str, Any] = wait_for(
            lambda: (lambda j: j if j["state"] in ("succeeded", "failed", "cancelled") else None)(self.job(job_id)),
            timeout,
            f"job {job_id} to end",
        )
        return done

    def stop(self) -> None:
        self._stop.set()
        for proc in self._procs:
            proc.stop()
        for thread in self._threads:
            thread.join(timeout=120)
        self.server.stop()
