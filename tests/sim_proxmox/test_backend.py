"""Backend unit tests: state transitions, locks, conflicts, capacity, agent timing."""

from __future__ import annotations

import pytest

from sim.proxmox import exceptions as E
from sim.proxmox.backend import Backend
from sim.proxmox.entities import GiB
from sim.proxmox.tasks import parse_upid

USER = "svc@pve!prov"


def clone(b: Backend, newid: int, **kw: object) -> str:
    return b.clone("pve1", 9000, newid, USER, **kw)  # type: ignore[arg-type]


def test_nextid_does_not_reserve_and_second_clone_fails(backend: Backend) -> None:
    first, second = backend.nextid(), backend.nextid()
    assert first == second == "100"
    assert backend.tasks[clone(backend, int(first))].exitstatus == "OK"
    with pytest.raises(E.HandlerError, match="unable to create VM 100: config file already exists"):
        clone(backend, int(second))


def test_nextid_with_taken_vmid_is_400(backend: Backend) -> None:
    with pytest.raises(E.ParamError) as err:
        backend.nextid(9000)
    assert err.value.errors == {"vmid": "VM 9000 already exists"}


def test_upid_format_uses_source_vmid_and_token(backend: Backend) -> None:
    upid = clone(backend, 101)
    info = parse_upid(upid)
    assert info is not None and upid.endswith(":") and len(upid.split(":")) == 9
    assert (info["node"], info["type"], info["id"], info["user"]) == ("pve1", "qmclone", "9000", USER)


def test_clone_holds_clone_lock_until_task_ends(slow_backend: Backend, clock) -> None:
    upid = clone(slow_backend, 101, full=True)
    assert slow_backend.status_current("pve1", 101)["lock"] == "clone"
    with pytest.raises(E.HandlerError, match=r"^VM is locked \(clone\)$"):
        slow_backend.update_config("pve1", 101, {"cores": 2})
    assert slow_backend.tasks[upid].status == "running"
    clock.advance(60)
    slow_backend.tick()
    assert slow_backend.tasks[upid].exitstatus == "OK"
    assert "lock" not in slow_backend.status_current("pve1", 101)


def test_contended_local_template_clone_times_out(slow_backend: Backend) -> None:
    clone(slow_backend, 101, full=True)
    upid = clone(slow_backend, 102, full=True)
    task = slow_backend.tasks[upid]
    assert task.exitstatus == "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    assert task.log[-1] == "TASK ERROR: can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    assert 102 not in slow_backend.vms


def test_local_template_cannot_clone_to_other_node(backend: Backend) -> None:
    with pytest.raises(E.HandlerError, match=r"can't clone VM to node 'pve2' \(VM uses local storage\)"):
        clone(backend, 101, target="pve2")


def test_running_vm_keeps_cold_changes_pending_until_restart(backend: Backend) -> None:
    clone(backend, 101)
    backend.start("pve1", 101, USER)
    backend.update_config("pve1", 101, {"cores": 8, "name": "renamed"})
    assert backend.get_config("pve1", 101, current=True)["cores"] == 2
    assert backend.get_config("pve1", 101)["cores"] == 8
    assert backend.get_config("pve1", 101, current=True)["name"] == "renamed"
    assert [p["pending"] for p in backend.get_pending("pve1", 101) if p["key"] == "cores"] == [8]
    backend.stop("pve1", 101, USER)
    backend.start("pve1", 101, USER)
    assert backend.get_config("pve1", 101, current=True)["cores"] == 8


def test_destroy_running_refused_then_config_gone(backend: Backend) -> None:
    clone(backend, 101)
    backend.start("pve1", 101, USER)
    with pytest.raises(E.HandlerError, match="VM 101 is running - destroy failed"):
        backend.destroy("pve1", 101, USER)
    backend.stop("pve1", 101, USER)
    assert backend.tasks[backend.destroy("pve1", 101, USER)].exitstatus == "OK"
    with pytest.raises(E.HandlerError, match=r"Configuration file 'nodes/pve1/qemu-server/101.conf' does not exist"):
        backend.status_current("pve1", 101)


def test_start_twice_fails_as_task(backend: Backend) -> None:
    clone(backend, 101)
    backend.start("pve1", 101, USER)
    assert backend.tasks[backend.start("pve1", 101, USER)].exitstatus == "VM 101 already running"


def test_node_memory_exhaustion_fails_start(backend: Backend) -> None:
    backend.nodes["pve1"].maxmem = 3 * GiB
    clone(backend, 101)
    clone(backend, 102)
    assert backend.tasks[backend.start("pve1", 101, USER)].exitstatus == "OK"
    status = backend.tasks[backend.start("pve1", 102, USER)].exitstatus
    assert status.startswith("start failed: not enough memory on node 'pve1'")


def test_storage_full_fails_full_clone(backend: Backend) -> None:
    backend.storages["local-lvm"].total = 10 * GiB
    clone(backend, 101, full=True)
    task = backend.tasks[clone(backend, 102, full=True)]
    assert "storage 'local-lvm' on node 'pve1' is full" in task.exitstatus
    assert 102 not in backend.vms


def test_agent_errors_before_and_after_boot(slow_backend: Backend, clock) -> None:
    clone(slow_backend, 101)
    clock.advance(5)
    with pytest.raises(E.HandlerError, match=r"^VM 101 is not running$"):
        slow_backend.agent("pve1", 101, "ping")
    slow_backend.start("pve1", 101, USER)
    clock.advance(2)
    with pytest.raises(E.HandlerError, match=r"^QEMU guest agent is not running$"):
        slow_backend.agent("pve1", 101, "network-get-interfaces")
    clock.advance(30)
    eth0 = slow_backend.agent("pve1", 101, "network-get-interfaces")["result"][1]
    assert eth0["ip-addresses"][0]["ip-address"].startswith("10.77.")


def test_no_agent_configured(backend: Backend) -> None:
    clone(backend, 101)
    backend.update_config("pve1", 101, {}, delete=["agent"])
    backend.start("pve1", 101, USER)
    with pytest.raises(E.HandlerError, match=r"^No QEMU guest agent configured$"):
        backend.agent("pve1", 101, "ping")


def test_resize_grows_and_refuses_shrink(backend: Backend) -> None:
    clone(backend, 101, full=True)
    assert backend.tasks[backend.resize("pve1", 101, "scsi0", "+2G", USER)].exitstatus == "OK"
    assert "size=10G" in backend.get_config("pve1", 101)["scsi0"]
    assert (
        backend.tasks[backend.resize("pve1", 101, "scsi0", "4G", USER)].exitstatus == "shrinking disks is not supported"
    )
    assert backend.tasks[backend.resize("pve1", 101, "scsi5", "+1G", USER)].exitstatus == "disk 'scsi5' does not exist"


def test_second_cloudinit_drive_refused(backend: Backend) -> None:
    clone(backend, 101)
    with pytest.raises(E.HandlerError, match="ide0 - cloud-init drive is already attached at 'ide2'"):
        backend.update_config("pve1", 101, {"ide0": "local-lvm:cloudinit"})


def test_vzdump_and_restore_roundtrip(backend: Backend) -> None:
    clone(backend, 101, name="orig")
    assert backend.tasks[backend.vzdump("pve1", [101], "local", USER)].exitstatus == "OK"
    archive = backend.storage_content("pve1", "local", "backup")[0]["volid"]
    assert archive.startswith("local:backup/vzdump-qemu-101-")
    assert backend.tasks[backend.restore("pve1", 150, archive, USER)].exitstatus == "OK"
    assert backend.get_config("pve1", 150)["name"] == "orig"


def test_persistence_roundtrip(backend: Backend, tmp_path) -> None:
    clone(backend, 101, name="keep")
    path = str(tmp_path / "state.json")
    backend.save(path)
    other = Backend(nodes=0)
    other.load(path)
    assert other.get_config("pve1", 101)["name"] == "keep"
    assert other.access.verify_token("svc@pve!prov", backend.access.tokens["svc@pve!prov"].secret)
