"""Suspend and resume a tenant through the real engine (issue 7).

``state: suspended`` in the tenant file stops the VM in Proxmox (not deleted: same vmid, address and
disk), keeps the DNS record and leaves the Dokploy registration untouched; removing it again starts
the same VM. Runs on its own local cloud (module fixture from tests/e2e/conftest.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import CloudUnderTest
from tests.e2e.test_tenant_lifecycle import _dokploy_servers, _resolve, _vm

pytestmark = pytest.mark.engine
SLUG, REGION, ORG = "alpha", "pve-eu1", "org_alpha"
ACTOR = "dokploy-cloud@pve!svc"
"""Whose tasks the tests start behind the product's back: what an earlier run of the provisioning token did."""


def _set_state(cloud: CloudUnderTest, state: str | None) -> None:
    path = cloud.tenants_dir / f"{SLUG}.yaml"
    data = yaml.safe_load(path.read_text())
    data.pop("state", None)
    if state is not None:
        data["state"] = state
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _declare(cloud: CloudUnderTest, slug: str, extra: str = "") -> Path:
    """A starter tenant file for ``slug`` (``extra``: more YAML lines), its organization in Dokploy; the file."""
    path = cloud.tenants_dir / f"{slug}.yaml"
    path.write_text(
        f"slug: {slug}\ndisplay_name: {slug.title()} Ltd\nplan: starter\nregion: {REGION}\n{extra}"
        f"dokploy_organization: org_{slug}\nowner: admin@{slug}.example\n"
    )
    assert cloud.cloud.dokploy is not None
    cloud.cloud.add_tenant(cloud.cloud.dokploy[0], cloud.tenant(slug))
    return path


def _up(cloud: CloudUnderTest) -> dict[str, Any]:
    result = cloud.stacks.run(cloud.tenant(SLUG), "up")
    assert result.ok, result.error
    return result.outputs


def test_suspend_stops_the_vm_and_resume_starts_the_same_one(local_cloud: CloudUnderTest) -> None:
    active = _up(local_cloud)
    vmid, address, hostname = active["vmIds"][0], active["addresses"][0], active["hostnames"][0]
    assert active["state"] == "active" and _vm(local_cloud, REGION, vmid).status == "running"
    [server_before] = _dokploy_servers(local_cloud, ORG)

    _set_state(local_cloud, "suspended")
    suspended = _up(local_cloud)
    vm = _vm(local_cloud, REGION, vmid)
    assert suspended["state"] == "suspended" and suspended["vmIds"] == [vmid]
    assert vm is not None and vm.status == "stopped"
    assert _resolve(local_cloud, hostname) == [address]
    [server] = _dokploy_servers(local_cloud, ORG)
    assert (server.server_id, server.ip_address) == (server_before.server_id, address)

    _set_state(local_cloud, None)
    resumed = _up(local_cloud)
    assert resumed["state"] == "active"
    assert (resumed["vmIds"], resumed["addresses"]) == ([vmid], [address])
    assert _vm(local_cloud, REGION, vmid).status == "running"
    assert _resolve(local_cloud, hostname) == [address]
    assert [s.server_id for s in _dokploy_servers(local_cloud, ORG)] == [server_before.server_id]


def test_a_tenant_suspended_before_its_first_setup_is_set_up_on_resume(local_cloud: CloudUnderTest) -> None:
    """Found by the fault soak: a payment failed while the signup was still being retried, so the next attempt
    applied ``state: suspended`` and tried to set Dokploy up on the VM it had just stopped, until the job failed
    for good. Now the server is registered without setup while suspended, and set up by the resume."""
    slug, org = "late", "org_late"
    path = _declare(local_cloud, slug, "state: suspended\n")
    assert local_cloud.cloud.dokploy is not None
    dokploy = local_cloud.cloud.dokploy[0]
    try:
        suspended = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert suspended.ok, suspended.error
        vmid = suspended.outputs["vmIds"][0]
        assert _vm(local_cloud, REGION, vmid).status == "stopped"
        [server] = _dokploy_servers(local_cloud, org)
        assert (_vm(local_cloud, REGION, vmid).node, vmid) not in dokploy.installed, "no setup on a stopped VM"

        path.write_text(path.read_text().replace("state: suspended\n", ""))
        resumed = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert resumed.ok, resumed.error
        assert _vm(local_cloud, REGION, vmid).status == "running"
        assert [s.server_id for s in _dokploy_servers(local_cloud, org)] == [server.server_id]
        assert (_vm(local_cloud, REGION, vmid).node, vmid) in dokploy.installed, "set up by the resume"
    finally:
        assert local_cloud.stacks.run(local_cloud.tenant(slug), "destroy").ok
        path.unlink()


def test_a_decommission_whose_vm_an_earlier_attempt_destroyed_reports_that_attempts_archive(
    local_cloud: CloudUnderTest,
) -> None:
    """Found by the fault soak: an attempt archived the server and deleted its VM, then failed before recording
    the delete (Proxmox answered 500 while it waited); every later attempt tried to back up the missing VM,
    was refused (403: a pool-scoped token sees no such VM) and the tenant stayed failed, its DNS record, stack
    and allocation orphaned."""
    slug, org = "gone", "org_gone"
    path = _declare(local_cloud, slug)
    try:
        up = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert up.ok, up.error
        vmid = up.outputs["vmIds"][0]
        [earlier] = local_cloud.stacks.archive_before_destroy(local_cloud.tenant(slug))["archives"]
        backend = local_cloud.cloud.proxmox[REGION][0].backend
        node = backend.vms[vmid].node
        backend.stop(node, vmid, ACTOR)
        backend.destroy(node, vmid, ACTOR)  # what the earlier attempt's destroy did before it failed
        while vmid in backend.vms:
            backend.tick()
        destroyed = local_cloud.stacks.run(local_cloud.tenant(slug), "destroy")
        assert destroyed.ok, destroyed.error
        assert [a["volid"] for a in destroyed.outputs["archives"]] == [earlier["volid"]]
        assert _dokploy_servers(local_cloud, org) == [] and _resolve(local_cloud, up.outputs["hostnames"][0]) == []
    finally:
        path.unlink()


def test_a_plan_change_whose_reboot_failed_is_applied_by_the_retry(local_cloud: CloudUnderTest) -> None:
    """Found by the fault soak: bpg's power cycle after a memory change got a 500, and the retry's refresh read the
    pending value as applied, so the tenant ran on its old plan for good. The retry now applies what is pending."""
    slug = "grow"
    path = _declare(local_cloud, slug)
    simulator = local_cloud.cloud.proxmox[REGION][0]
    try:
        up = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert up.ok, up.error
        vmid = up.outputs["vmIds"][0]
        path.write_text(path.read_text().replace("plan: starter", "plan: business"))
        power = r"/status/(reboot|shutdown|stop)$"
        simulator.faults.set_rules([{"path": power, "method": "POST", "error_rate": 1.0}])
        failed = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert not failed.ok, "the power change bpg makes after a memory change was refused"
        assert simulator.backend.vms[vmid].pending.get("memory") == "8192", "the change waits for a boot"
        simulator.faults.set_rules([])
        retried = local_cloud.stacks.run(local_cloud.tenant(slug), "up", refresh=True)
        assert retried.ok, retried.error
        vm = simulator.backend.vms[vmid]
        assert (vm.config.get("memory"), vm.pending, vm.status) == ("8192", {}, "running")
    finally:
        simulator.faults.set_rules([])
        assert local_cloud.stacks.run(local_cloud.tenant(slug), "destroy").ok
        path.unlink()


def test_a_vm_cloned_by_a_failed_run_goes_with_the_decommission(local_cloud: CloudUnderTest) -> None:
    """Found by the fault soak: the clone task's status answered 500, so bpg failed before recording the VM it had
    cloned; the tenant was then decommissioned, its destroy could not see the VM and released its id: an untagged
    orphan. The destroy now deletes such a VM when its id, pool and name prove it is the tenant's."""
    slug = "stray"
    path = _declare(local_cloud, slug)
    simulator = local_cloud.cloud.proxmox[REGION][0]
    try:
        simulator.faults.set_rules([{"path": r"/tasks/[^/]*qmclone[^/]*/status$", "method": "GET", "error_rate": 1.0}])
        failed = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        simulator.faults.set_rules([])
        assert not failed.ok
        cloned = [vm for vm in simulator.backend.vms.values() if str(vm.config.get("name", "")).startswith(f"{slug}-")]
        assert len(cloned) == 1 and "tenant-stray" not in str(cloned[0].config.get("tags", "")), "cloned, untagged"
        destroyed = local_cloud.stacks.run(local_cloud.tenant(slug), "destroy")
        assert destroyed.ok, destroyed.error
        assert cloned[0].vmid not in simulator.backend.vms, "no orphan left"
    finally:
        simulator.faults.set_rules([])
        path.unlink()


def test_the_retry_after_a_migration_reads_back_the_vm_not_its_firewall_on_the_old_node(
    local_cloud: CloudUnderTest,
) -> None:
    """Found by the 20-minute fault soak: an attempt migrated a VM (an upgrade the node could not hold) and then
    failed; the retry's refresh read the VM's firewall options on the node the state named and failed for good
    ("Configuration file 'nodes/pve1/qemu-server/<id>.conf' does not exist"). A retry now reads back the VMs
    only (bpg finds a moved VM on its node), and the up puts everything where the declaration says."""
    slug = "moved"
    path = _declare(local_cloud, slug)
    backend = local_cloud.cloud.proxmox[REGION][0].backend
    try:
        up = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert up.ok, up.error
        vmid = up.outputs["vmIds"][0]
        home = backend.vms[vmid].node
        elsewhere = next(n for n in backend.nodes if n != home)
        backend.migrate(home, vmid, elsewhere, ACTOR, online=True, with_local_disks=True)
        while backend.vms[vmid].node != elsewhere or backend.vms[vmid].lock:
            backend.tick()
        retried = local_cloud.stacks.run(local_cloud.tenant(slug), "up", refresh=True)
        assert retried.ok, retried.error
        assert backend.vms[vmid].node == home and backend.vms[vmid].status == "running"
    finally:
        assert local_cloud.stacks.run(local_cloud.tenant(slug), "destroy").ok
        path.unlink()
