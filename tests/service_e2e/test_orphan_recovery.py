"""Recovery on the real engine: what it deletes, what it only reports, and when it does nothing at all.

One tenant is provisioned through the service. Further VMs are then cloned at ids allocated to it that
its stack does not record (what a second server of a live tenant looks like to a state that lost it, or
what a dead run leaves). Without crash evidence nothing is deleted, and preview and refresh never
delete; after a crash (a stale lock of a dead process) only the VM whose tags and pool prove it is the
tenant's is deleted, and the others are reported.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from proxmoxer.tools import Tasks

from clients.proxmox import client_from_env, cluster_vms
from components.naming import tenant_tags
from components.spec import TenantSpec
from ipam.store import PoolSpec, open_store
from provisioning.runner import CrashSafeRunner
from tests.service_e2e.harness import EngineCloud, EngineService, new_signup

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def tenant(engine_cloud: EngineCloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EngineService, str]]:
    """A ready tenant, provisioned through the service by one worker thread."""
    tmp = tmp_path_factory.mktemp("orphans")
    service = EngineService.start(engine_cloud, tmp, f"sqlite://{tmp / 'queue.sqlite'}")
    body = new_signup("orph")
    engine_cloud.add_organization(body)
    service.start_worker_threads(1)
    job = service.wait_job(service.signup(body).json()["job_id"])
    assert job["state"] == "succeeded", job["error"]
    yield service, body["slug"]
    service.stop()


class Extra:
    """VMs cloned at further ids allocated to the tenant, outside its stack."""

    def __init__(self, runner: CrashSafeRunner, spec: TenantSpec) -> None:
        self.runner, self.slug = runner, spec.slug
        self.spec = spec
        self.env = runner.stacks.env_vars(self.spec)
        self.api = client_from_env(env=self.env)
        self.region = runner.stacks.environment.regions[self.spec.region]
        self.pool = self.region.pool

    def allocate(self, index: int) -> int:
        region = self.region
        store = open_store(self.env["ALLOCATIONS_DB"])
        return store.allocate(
            f"{self.runner.stacks.environment.name}/{region.name}",
            f"{self.slug}/{index}",
            PoolSpec(region.vmid_start, region.vmid_end, region.network, region.gateway, region.reserved),
            region.nodes[0],
            foreign_vmids=[int(vm["vmid"]) for vm in cluster_vms(self.api)],
        ).vmid

    def clone(self, index: int, tags: list[str]) -> int:
        """A VM in the region's pool, cloned with the product's own (least-privilege) token."""
        node = self.region.nodes[0]
        vmid = self.allocate(index)
        qemu = self.api.nodes(node).qemu
        upid = qemu(self.region.templates[node]).clone.post(
            newid=vmid, name=f"{self.slug}-{index + 1}-extra", pool=self.pool
        )
        assert Tasks.blocking_status(self.api, upid, timeout=30, polling_interval=0.1)["exitstatus"] == "OK"
        qemu(vmid).config.put(tags=";".join(tags))
        return vmid

    def exists(self, vmid: int) -> bool:
        return any(int(vm["vmid"]) == vmid for vm in cluster_vms(self.api))

    def delete(self, vmid: int) -> None:
        vm = self.api.nodes(self.runner.stacks.environment.regions[self.spec.region].nodes[0]).qemu(vmid)
        Tasks.blocking_status(self.api, vm.delete(purge=1), timeout=30, polling_interval=0.1)


def _dead_process_lock(cloud: EngineCloud, stack: str) -> Path:
    """The lock file a SIGKILLed ``pulumi up`` leaves on the file backend."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = cloud.backend_dir / ".pulumi" / "locks" / "organization" / "dokploy-cloud" / stack / f"{uuid.uuid4()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"pid": dead.pid, "hostname": socket.gethostname(), "timestamp": "2026-01-01T00:00:00Z"})
    )
    return path


def _vmids(report: Any) -> list[int]:
    return [int(u["vmid"]) for u in report.unproven_vms]


def test_without_crash_evidence_nothing_is_deleted_and_preview_refresh_stay_read_only(
    tenant: tuple[EngineService, str],
) -> None:
    service, slug = tenant
    runner, spec = service.runner(), service.declared(slug)
    extra = Extra(runner, spec)
    live = extra.clone(
        1, tenant_tags(extra.spec.slug, extra.spec.plan)
    )  # the tenant's own tags and pool: it looks like a live server
    try:
        for operation in ("preview", "refresh"):
            result = runner.run(spec, operation)  # type: ignore[arg-type]
            assert result.ok, result.error
            assert extra.exists(live), f"{operation} deleted a VM"
        report = runner.recover(spec)
        assert extra.exists(live) and report.orphan_vms_deleted == [] and report.crash_evidence == []
        assert _vmids(report) == [live] and "no crash evidence" in report.unproven_vms[0]["reason"]
        applied = runner.run(spec, "up")
        assert applied.ok, applied.error
        assert extra.exists(live)
    finally:
        if extra.exists(live):
            extra.delete(live)


def _clone_outside_the_pool(engine_cloud: EngineCloud, extra: Extra, index: int) -> int:
    """A VM at an id allocated to the tenant that an administrator cloned outside the region's pool: the
    product's token cannot even see it (this sets up the fake cluster, so it acts as the cluster's admin)."""
    backend, node = engine_cloud.proxmox(extra.region.name), extra.region.nodes[0]
    vmid = extra.allocate(index)
    backend.clone(node, extra.region.templates[node], vmid, "root@pam", name=f"{extra.slug}-{index + 1}-elsewhere")
    deadline = time.monotonic() + 30
    while backend.vms[vmid].lock and time.monotonic() < deadline:
        time.sleep(0.1)
    return vmid


def test_after_a_crash_only_the_provable_orphan_is_deleted(
    tenant: tuple[EngineService, str], engine_cloud: EngineCloud
) -> None:
    service, slug = tenant
    runner, spec = service.runner(), service.declared(slug)
    extra = Extra(runner, spec)
    orphan = extra.clone(2, tenant_tags(extra.spec.slug, extra.spec.plan))
    not_tagged = extra.clone(3, ["dokploy-cloud", "tenant-someone-else"])
    elsewhere = _clone_outside_the_pool(engine_cloud, extra, 4)
    backend = engine_cloud.proxmox(extra.region.name)
    lock = _dead_process_lock(engine_cloud, runner.stacks.stack_name(slug))
    try:
        dry = runner.recover(spec, dry_run=True)
        assert lock.exists() and all(extra.exists(v) for v in (orphan, not_tagged)) and elsewhere in backend.vms
        assert dry.crash_evidence and sorted(_vmids(dry)) == sorted([orphan, not_tagged])

        report = runner.recover(spec)
        assert report.lock_cleared and not lock.exists()
        assert report.orphan_vms_deleted == [orphan] and not extra.exists(orphan)
        assert extra.exists(not_tagged) and elsewhere in backend.vms, "recovery deleted a VM it cannot prove is ours"
        reasons = {u["vmid"]: u["reason"] for u in report.unproven_vms}
        assert "tenant-" in reasons[not_tagged]
        applied = runner.run(spec, "up")
        assert applied.ok, applied.error
        assert applied.changes.get("create", 0) == 0, "the tenant's own resources were harmed"
    finally:
        for vmid in (orphan, not_tagged):
            if extra.exists(vmid):
                extra.delete(vmid)
        if elsewhere in backend.vms:
            backend.destroy(extra.region.nodes[0], elsewhere, "root@pam", purge=True)
