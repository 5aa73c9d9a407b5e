"""Signup to ready over HTTP, through the service's real engine runner (no fakes).

"Ready" is checked in every service: the VM runs with the plan's resources and its guest agent
answers, the hostname resolves at PowerDNS, the Dokploy server is registered and its setup installed
Dokploy on that very guest. The job ends only after all of that (the simulators are slowed so the
waits are visible in the phase timings).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.dokploy_keys import NAME_PREFIX
from tests.service.harness import declaration_files
from tests.service_e2e.conftest import queue_url
from tests.service_e2e.harness import EngineCloud, EngineService, new_signup
from tests.service_e2e.observe import allocated_vmids, footprint, stack_files, unowned_vms

pytestmark = pytest.mark.engine
AGENT_BOOT, SETUP = 1.5, 1.0


@pytest.fixture(params=["sqlite", "postgres"])
def any_queue_service(
    request: pytest.FixtureRequest, engine_cloud: EngineCloud, tmp_path: Path
) -> Iterator[EngineService]:
    running = EngineService.start(engine_cloud, tmp_path, queue_url(request.param, tmp_path, request))
    try:
        yield running
    finally:
        running.stop()
        engine_cloud.set_speed()


def test_signup_reaches_ready_only_when_every_service_is_ready(
    any_queue_service: EngineService, engine_cloud: EngineCloud
) -> None:
    service = any_queue_service
    engine_cloud.set_speed(agent_boot=AGENT_BOOT, setup_seconds=SETUP)
    body = new_signup("ready")
    engine_cloud.add_organization(body)
    service.start_worker_threads(1)
    accepted = service.signup(body)
    assert accepted.status_code == 202, accepted.text

    job = service.wait_job(accepted.json()["job_id"])
    assert job["state"] == "succeeded", job["error"]
    tenant = service.tenant(body["slug"])
    assert tenant["phase"] == "ready" and tenant["ready_at"] is not None
    seen = footprint(engine_cloud, body["slug"], body["organization_id"])
    plan = engine_cloud.environment.plans["starter"]
    assert seen.counts() == (1, 1, 1)
    vm = seen.vms[0]
    assert (vm.status, vm.agent_ready, vm.cores, vm.memory_mb) == ("running", True, plan.cores, plan.memory_mb)
    assert f"size={plan.disk_gb}G" in vm.disk
    assert seen.addresses == tenant["outputs"]["addresses"]
    assert seen.servers[0]["installed"] and seen.servers[0]["server_id"] == tenant["outputs"]["dokployServerIds"][0]
    timings = tenant["phase_timings"]
    assert {"allocate", "vm", "dns", "dokploy"} <= set(timings), timings
    assert timings["vm"]["seconds"] >= AGENT_BOOT * 0.9, "the vm phase ends only once the guest agent answers"
    assert timings["dokploy"]["seconds"] >= SETUP * 0.9, "the dokploy phase ends only once setup is validated"


@pytest.fixture(scope="module")
def shared(engine_cloud: EngineCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineService]:
    """One SQLite-backed service with two worker threads for the steps below."""
    tmp = tmp_path_factory.mktemp("shared-service")
    running = EngineService.start(engine_cloud, tmp, f"sqlite://{tmp / 'queue.sqlite'}")
    running.start_worker_threads(2)
    yield running
    running.stop()


_tenant: dict[str, object] = {}


def test_step1_a_repeated_event_makes_one_tenant(shared: EngineService, engine_cloud: EngineCloud) -> None:
    body = new_signup("dup")
    engine_cloud.add_organization(body)
    first, again = shared.signup(body), shared.signup(body)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["job_id"] == first.json()["job_id"] and again.json()["duplicate"] is True
    job = shared.wait_job(first.json()["job_id"])
    assert job["state"] == "succeeded", job["error"]
    late = shared.signup(body)  # redelivered after the tenant is ready
    assert late.json()["job_id"] == first.json()["job_id"]
    assert [t["slug"] for t in shared.op("GET", "/v1/tenants").json()["tenants"]].count(body["slug"]) == 1
    assert len(shared.op("GET", f"/v1/jobs?slug={body['slug']}").json()["jobs"]) == 1
    assert footprint(engine_cloud, body["slug"], body["organization_id"]).counts() == (1, 1, 1)
    _tenant.update(body=body, outputs=job["outputs"])


def test_step2_decommission_removes_everything(shared: EngineService, engine_cloud: EngineCloud) -> None:
    if not _tenant:
        pytest.skip("step 1 did not provision the tenant")
    body: dict[str, str] = _tenant["body"]  # type: ignore[assignment]
    slug, org = body["slug"], body["organization_id"]
    assert stack_files(engine_cloud, slug)
    accepted = shared.op("POST", f"/v1/tenants/{slug}/decommission")
    assert accepted.status_code == 202, accepted.text
    job = shared.wait_job(accepted.json()["job_id"])
    assert job["state"] == "succeeded", job["error"]
    assert shared.tenant(slug)["phase"] == "decommissioned"
    gone = footprint(engine_cloud, slug, org)
    assert gone.counts() == (0, 0, 0) and gone.ssh_keys == 0 and not gone.stack
    assert allocated_vmids(engine_cloud, slug) == set(), "decommission left allocation rows (vmid, address)"
    run_keys = [
        k
        for k in engine_cloud.dokploy.api_keys.values()
        if k.organization_id == org and k.name.startswith(f"{NAME_PREFIX}:")
    ]
    assert run_keys == [], "a per-run Dokploy key of the tenant's organization was left unrevoked"
    assert declaration_files(shared.root) == [], "a declaration was written to disk"
    assert unowned_vms(engine_cloud) == []
