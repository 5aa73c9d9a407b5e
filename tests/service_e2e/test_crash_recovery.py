"""A worker process SIGKILLed (with its engine processes) at many points of a real run, then replaced.

For every kill point the tenant must end as if nothing happened: a signup ends ready with exactly one
VM, one DNS record and one set-up Dokploy server; a decommission ends with none and exactly one final
backup of the server (its archive); a restore ends with the server running the backed-up data; no
simulator VM is left that no stack owns. What recovery did at each point is printed as a table and written to
``.state/service-crash-report.json``. Every point runs by default, on one cloud shared by the module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.environment import Environment
from provisioning.runner import CrashSafeRunner
from provisioning.runs import RunResult
from provisioning.tenant_backups import TenantBackups
from provisioning.toolchain import PROJECT_DIR
from service.queue import JobQueue
from service.worker import Worker, WorkerOptions
from tests.service.harness import wait_for
from tests.service_e2e.harness import EngineCloud, EngineService, WorkerProcess, new_signup, session_members
from tests.service_e2e.killpoints import (
    KILL_POINTS,
    SUMMARY,
    KillPoint,
    KillRecord,
    Tenant,
    snapshot,
    wait_for_point,
    write_report,
)
from tests.service_e2e.observe import footprint, tenant_vms, unowned_vms

pytestmark = pytest.mark.engine
REPORT = PROJECT_DIR / ".state" / "service-crash-report.json"


@pytest.fixture(scope="module")
def crash_report() -> Iterator[list[KillRecord]]:
    """Collects a row per kill point; prints the table and writes the JSON at the end of the module."""
    records: list[KillRecord] = []
    yield records
    if records:
        SUMMARY.extend(write_report(records, REPORT))


def _points() -> list[Any]:
    return [pytest.param(p, id=p.name) for p in KILL_POINTS]


def _slow_down(cloud: EngineCloud, point: KillPoint) -> None:
    cloud.set_speed(setup_seconds=point.setup_seconds, **point.proxmox_seconds)
    cloud.dokploy.faults.configure({"paths": [{"pattern": p, "latency": s} for p, s in point.dokploy_latency.items()]})


def _normal_speed(cloud: EngineCloud) -> None:
    cloud.set_speed()
    cloud.dokploy.faults.configure({"paths": []})


def _options(service: EngineService) -> WorkerOptions:
    return WorkerOptions(
        service.settings.lease_seconds, service.settings.retry_base_seconds, service.settings.poll_seconds
    )


def _kill_at(service: EngineService, cloud: EngineCloud, tenant: Tenant, point: KillPoint) -> WorkerProcess:
    doomed = service.start_worker_process(f"doomed-{point.name}")
    wait_for_point(cloud, tenant, point, 180, alive=lambda: doomed.proc.poll() is None)
    doomed.kill()
    assert not session_members(doomed.proc.pid), "engine processes outlived the killed worker"
    return doomed


MARKER = "/srv/app/marker.txt"


def _provision(service: EngineService, body: dict[str, Any]) -> None:
    """Signup to ready at full speed, by a worker in this process."""
    job_id = service.signup(body).json()["job_id"]
    Worker(service.queue, service.runner(), _options(service), worker_id="provisioner").run_once()
    job = service.job(job_id)
    assert job["state"] == "succeeded", job["error"]


def _guest(cloud: EngineCloud, slug: str) -> tuple[Any, int]:
    [vm] = tenant_vms(cloud, slug)
    backend = next(b for b in cloud.proxmox_backends() if vm.vmid in b.vms)
    return backend, vm.vmid


def _submit(service: EngineService, cloud: EngineCloud, body: dict[str, Any], point: KillPoint) -> str:
    if point.operation == "decommission":
        _provision(service, body)
        _slow_down(cloud, point)
        return str(service.op("POST", f"/v1/tenants/{body['slug']}/decommission").json()["job_id"])
    if point.operation == "restore":  # data as of a backup, then changed; the restore must bring it back
        _provision(service, body)
        backend, vmid = _guest(cloud, body["slug"])
        wait_for(lambda: backend.agent_ready(backend.vms[vmid]), 30, "the guest agent")
        backend.guest_file_write(backend.vms[vmid].node, vmid, MARKER, "as backed up", True)
        [backup] = TenantBackups(service.runner().stacks).backup(service.declared(body["slug"]))
        backend.guest_file_write(backend.vms[vmid].node, vmid, MARKER, "changed later", True)
        _slow_down(cloud, point)
        restore = {"volid": backup.volid, "server": 0, "stop": True}
        return str(service.op("POST", f"/v1/tenants/{body['slug']}/restore", restore).json()["job_id"])
    _slow_down(cloud, point)
    return str(service.signup(body).json()["job_id"])


@pytest.mark.parametrize("point", _points())
def test_killed_worker_run_converges(
    point: KillPoint, service: EngineService, engine_cloud: EngineCloud, crash_report: list[KillRecord]
) -> None:
    body = new_signup("crash")
    engine_cloud.add_organization(body)
    tenant = Tenant(body["slug"], body["organization_id"])
    try:
        job_id = _submit(service, engine_cloud, body, point)
        _kill_at(service, engine_cloud, tenant, point)
        at_kill = snapshot(engine_cloud, tenant)
    finally:
        _normal_speed(engine_cloud)
    started = time.monotonic()
    survivor = service.start_worker_process(f"survivor-{point.name}")
    job = service.wait_job(job_id)
    settled = time.monotonic() - started
    seen = footprint(engine_cloud, tenant.slug, tenant.org)
    expected = (0, 0, 0) if point.operation == "decommission" else (1, 1, 1)
    archives = [a for a in TenantBackups(service.runner().stacks).archives(tenant.slug) if a.reason == "decommission"]
    orphans = unowned_vms(engine_cloud)
    ok = (
        job["state"] == "succeeded"
        and seen.counts() == expected
        and not orphans
        and all(s["installed"] for s in seen.servers)
    )
    crash_report.append(
        KillRecord(
            point.name,
            point.operation,
            at_kill,
            survivor.recovery_reports(),
            int(job["attempts"]),
            round(settled, 1),
            {
                "vms": len(seen.vms),
                "dns": len(seen.addresses),
                "servers": len(seen.servers),
                "ssh_keys": seen.ssh_keys,
                "stack": seen.stack,
                "unowned_vms": orphans,
                "archives": [a.volid for a in archives],
                "job": job["state"],
                "error": job["error"],
            },
            ok,
        )
    )
    assert job["state"] == "succeeded", job["error"]
    assert seen.counts() == expected, seen
    assert orphans == [], f"VMs no stack owns: {orphans}"
    if point.operation == "signup":
        assert seen.servers[0]["installed"] and seen.vms[0].agent_ready and seen.vms[0].status == "running"
        assert service.tenant(tenant.slug)["phase"] == "ready"
    elif point.operation == "restore":
        backend, vmid = _guest(engine_cloud, tenant.slug)
        assert backend.vms[vmid].status == "running" and service.tenant(tenant.slug)["phase"] == "ready"
        wait_for(lambda: backend.agent_ready(backend.vms[vmid]), 30, "the restored guest's agent")
        node = backend.vms[vmid].node
        assert backend.guest_file_read(node, vmid, MARKER)["content"] == "as backed up", "the restore's data"
    else:
        assert seen.ssh_keys == 0 and not seen.stack
        assert service.tenant(tenant.slug)["phase"] == "decommissioned"
        assert len(archives) == 1, f"exactly one final backup of the server, none lost or doubled: {archives}"
        assert service.tenant(tenant.slug)["status"] == f"archived until {archives[0].delete_after}"


class _FailingHeartbeats:
    """The queue as one worker sees it when only its heartbeats cannot reach the database."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        raise ConnectionError("queue database unreachable")


class _Recording:
    """The engine runner, keeping every result it returned."""

    def __init__(self, runner: CrashSafeRunner) -> None:
        self.runner = runner
        self.results: list[RunResult] = []

    @property
    def environment(self) -> Environment:
        return self.runner.environment

    def run(self, *args: Any, **kwargs: Any) -> RunResult:
        result = self.runner.run(*args, **kwargs)
        self.results.append(result)
        return result


def test_a_worker_that_lost_its_lease_stops_its_engine_run(service: EngineService, engine_cloud: EngineCloud) -> None:
    body = new_signup("lease")
    engine_cloud.add_organization(body)
    engine_cloud.set_speed(qmclone=float(service.settings.lease_seconds) * 2)  # the run outlasts the lease
    try:
        job_id = service.signup(body).json()["job_id"]
        cut_off = _Recording(service.runner())
        worker = Worker(
            _FailingHeartbeats(service.queue),
            cut_off,
            _options(service),  # type: ignore[arg-type]
            worker_id="cut-off",
        )
        started = time.monotonic()
        first = threading.Thread(target=worker.run_once)
        first.start()
        wait_for(lambda: service.queue.get_job(job_id).lease_owner == "cut-off", 30, "the first worker to claim")
        service.start_worker_threads(1)  # takes the job over once the lease lapses
        first.join(timeout=120)
        assert not first.is_alive()
        stopped_after = time.monotonic() - started
    finally:
        _normal_speed(engine_cloud)
    job = service.wait_job(job_id)
    assert job["state"] == "succeeded", job["error"]
    assert (job["worker"], job["attempts"]) == ("thread0", 2)
    [result] = cut_off.results
    assert result.error_kind == "cancelled", result
    assert stopped_after < 60, "the cut-off worker's run was not interrupted"
    seen = footprint(engine_cloud, body["slug"], body["organization_id"])
    assert seen.counts() == (1, 1, 1) and unowned_vms(engine_cloud) == []
