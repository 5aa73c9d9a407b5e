"""A worker process SIGKILLed (with its engine processes) at many points of a real run, then replaced.

For every kill point the tenant must end as if nothing happened: a signup ends ready with exactly one
VM, one DNS record and one set-up Dokploy server; a decommission ends with none; no simulator VM is
left that no stack owns. What recovery did at each point is printed as a table and written to
``.state/service-crash-report.json``. Two representative points run by default; the matrix with --run-slow.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from provisioning.toolchain import PROJECT_DIR
from tests.service_e2e.harness import EngineCloud, EngineService, WorkerProcess, new_signup, session_members
from tests.service_e2e.killpoints import (DEFAULT_POINTS, SUMMARY, KILL_POINTS, KillPoint, KillRecord, Tenant, snapshot,
                                          wait_for_point, write_report)
from tests.service_e2e.observe import footprint, unowned_vms

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
    return [pytest.param(p, id=p.name, marks=() if p.name in DEFAULT_POINTS else (pytest.mark.slow,))
            for p in KILL_POINTS]


def _slow_down(cloud: EngineCloud, point: KillPoint) -> None:
    cloud.set_speed(setup_seconds=point.setup_seconds, **point.proxmox_seconds)
    cloud.dokploy.faults.configure({"paths": [{"pattern": p, "latency": s} for p, s in point.dokploy_latency.items()]})


def _normal_speed(cloud: EngineCloud) -> None:
    cloud.set_speed()
    cloud.dokploy.faults.configure({"paths": []})


def _kill_at(service: EngineService, cloud: EngineCloud, tenant: Tenant, point: KillPoint) -> WorkerProcess:
    doomed = service.start_worker_process(f"doomed-{point.name}")
    wait_for_point(cloud, tenant, point, 180, alive=lambda: doomed.proc.poll() is None)
    doomed.kill()
    assert not session_members(doomed.proc.pid), "engine processes outlived the killed worker"
    return doomed


def _submit(service: EngineService, cloud: EngineCloud, body: dict[str, Any], point: KillPoint) -> str:
    if point.operation == "decommission":  # provision first, at full speed, with a worker that then goes away
        first = service.start_worker_process("provisioner")
        job = service.wait_job(service.signup(body).json()["job_id"])
        first.stop()
        assert job["state"] == "succeeded", job["error"]
        _slow_down(cloud, point)
        return str(service.op("POST", f"/v1/tenants/{body['slug']}/decommission").json()["job_id"])
    _slow_down(cloud, point)
    return str(service.signup(body).json()["job_id"])


@pytest.mark.parametrize("point", _points())
def test_killed_worker_run_converges(point: KillPoint, service: EngineService, engine_cloud: EngineCloud,
                                     crash_report: list[KillRecord]) -> None:
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
    orphans = unowned_vms(engine_cloud)
    ok = (job["state"] == "succeeded" and seen.counts() == expected and not orphans
          and all(s["installed"] for s in seen.servers))
    crash_report.append(KillRecord(point.name, point.operation, at_kill, survivor.recovery_reports(),
                                   int(job["attempts"]), round(settled, 1),
                                   {"vms": len(seen.vms), "dns": len(seen.addresses), "servers": len(seen.servers),
                                    "ssh_keys": seen.ssh_keys, "stack": seen.stack, "unowned_vms": orphans,
                                    "job": job["state"], "error": job["error"]}, ok))
    assert job["state"] == "succeeded", job["error"]
    assert seen.counts() == expected, seen
    assert orphans == [], f"VMs no stack owns: {orphans}"
    if point.operation == "signup":
        assert seen.servers[0]["installed"] and seen.vms[0].agent_ready and seen.vms[0].status == "running"
        assert service.tenant(tenant.slug)["phase"] == "ready"
    else:
        assert seen.ssh_keys == 0 and not seen.stack
        assert service.tenant(tenant.slug)["phase"] == "decommissioned"
