"""VM snapshots through real proxmoxer, as qemu-server behaves (issue 12, item 5)."""

from __future__ import annotations

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from sim.proxmox.backend import Backend


def _wait(prox: ProxmoxAPI, upid: str) -> dict:
    status = Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)
    assert status is not None
    return status


@pytest.fixture
def vm(prox_admin: ProxmoxAPI, live_backend: Backend):
    """A VM cloned into the tenants pool; snapshots are an operator's tool (the provisioner may not)."""
    vmid = int(prox_admin.cluster.nextid.get())
    node = prox_admin.nodes("pve1")
    assert _wait(prox_admin, node.qemu(9000).clone.post(newid=vmid, pool="tenants", full=1))["exitstatus"] == "OK"
    return node.qemu(vmid)


def test_snapshots_chain_and_the_current_entry(prox_admin: ProxmoxAPI, vm, live_backend: Backend) -> None:
    upid = vm.snapshot.post(snapname="before", description="first")
    assert ":qmsnapshot:" in upid and _wait(prox_admin, upid)["exitstatus"] == "OK"
    vm.config.put(cores=4)
    _wait(prox_admin, vm.snapshot.post(snapname="after"))
    listed = {s["name"]: s for s in vm.snapshot.get()}
    assert listed["before"]["description"] == "first" and "parent" not in listed["before"]
    assert listed["after"]["parent"] == "before"
    assert listed["current"] == {**listed["current"], "description": "You are here!", "parent": "after", "running": 0}
    assert vm.config.get()["parent"] == "after"
    assert vm.snapshot("before").config.get()["cores"] == 2 and vm.snapshot("after").config.get()["cores"] == 4
    assert {e["cmd"] for e in vm.snapshot("before").get()} == {"rollback", "config"}
    vm.snapshot("before").config.put(description="renamed")
    assert vm.snapshot("before").config.get()["description"] == "renamed"
    with pytest.raises(ResourceException, match="already used"):
        vm.snapshot.post(snapname="before")


def test_rollback_restores_the_config_and_delete_reparents(prox_admin: ProxmoxAPI, vm, live_backend: Backend) -> None:
    _wait(prox_admin, vm.snapshot.post(snapname="first"))
    vm.config.put(cores=3)
    _wait(prox_admin, vm.snapshot.post(snapname="second"))
    vm.config.put(cores=6, memory=8192)
    status = _wait(prox_admin, vm.snapshot("first").rollback.post())
    assert ":qmrollback:" in status["upid"] and status["exitstatus"] == "OK"
    cfg = vm.config.get()
    assert (cfg["cores"], cfg["parent"]) == (2, "first") and cfg["memory"] != "8192"
    assert ":qmdelsnapshot:" in _wait(prox_admin, vm.snapshot("first").delete())["upid"]
    names = {s["name"]: s for s in vm.snapshot.get()}
    assert set(names) == {"second", "current"} and "parent" not in names["second"], "second's parent first is gone"
    assert "parent" not in vm.config.get(), "the config's parent first is gone, and had no parent"
    with pytest.raises(ResourceException, match="does not exist"):
        vm.snapshot("first").config.get()


def test_vmstate_is_kept_only_for_a_running_vm_and_rollback_resumes_it(prox_admin: ProxmoxAPI, vm) -> None:
    _wait(prox_admin, vm.snapshot.post(snapname="cold", vmstate=1))
    _wait(prox_admin, vm.status.start.post())
    _wait(prox_admin, vm.snapshot.post(snapname="hot", vmstate=1))
    listed = {s["name"]: s for s in vm.snapshot.get()}
    assert (listed["cold"]["vmstate"], listed["hot"]["vmstate"], listed["current"]["running"]) == (0, 1, 1)
    _wait(prox_admin, vm.snapshot("cold").rollback.post())
    assert vm.status.current.get()["status"] == "stopped"
    _wait(prox_admin, vm.snapshot("hot").rollback.post())
    assert vm.status.current.get()["status"] == "running"


def test_the_snapshot_lock_is_held_while_the_task_runs(prox_admin: ProxmoxAPI, vm, live_backend: Backend) -> None:
    live_backend.settings.durations.set_speed("realistic")
    upid = vm.snapshot.post(snapname="slow")
    assert vm.config.get()["lock"] == "snapshot"
    with pytest.raises(ResourceException, match="locked"):
        vm.config.put(cores=3)
    live_backend.settings.durations.set_speed("fast")
    _wait(prox_admin, upid)
    assert "lock" not in vm.config.get()


def test_snapshots_affect_clone_template_and_delete(prox_admin: ProxmoxAPI, vm, live_backend: Backend) -> None:
    _wait(prox_admin, vm.snapshot.post(snapname="base"))
    vm.config.put(cores=5, name="changed")
    newid = int(prox_admin.cluster.nextid.get())
    node = prox_admin.nodes("pve1")
    _wait(prox_admin, vm.clone.post(newid=newid, pool="tenants", full=1, snapname="base"))
    clone = node.qemu(newid).config.get()
    assert clone["cores"] == 2 and "parent" not in clone, "cloned from the snapshot, without its history"
    assert [s["name"] for s in node.qemu(newid).snapshot.get()] == ["current"]
    with pytest.raises(ResourceException, match="does not exist"):
        vm.clone.post(newid=newid + 1, full=1, snapname="nope")
    with pytest.raises(ResourceException, match="has snapshots"):
        vm.template.post()
    vmid = int(vm.status.current.get()["vmid"])
    _wait(prox_admin, vm.delete(purge=1))
    assert vmid not in live_backend.vms, "the VM went with its snapshots"


def test_the_least_privilege_provisioner_may_not_snapshot(prox: ProxmoxAPI, vm) -> None:
    vmid = int(vm.status.current.get()["vmid"])
    with pytest.raises(ResourceException) as denied:
        prox.nodes("pve1").qemu(vmid).snapshot.post(snapname="nope")
    assert denied.value.status_code == 403 and "VM.Snapshot" in str(denied.value)
