"""Backups in the simulator: jobs on the simulated clock, vzdump with notes/protection/retention,
restore with the data as it was, PVE's permission rules; through real proxmoxer where it matters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from sim.proxmox import calendar, prune
from sim.proxmox.backend import Backend
from sim.proxmox.exceptions import PveError

from .conftest import FakeClock

DAY = 86400


def wait(prox: ProxmoxAPI, upid: str) -> dict[str, Any]:
    status = Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)
    assert status is not None
    return status


def _running_vm(b: Backend, vmid: int = 200, node: str = "pve1") -> int:
    b.clone(node, 9000, vmid, "root@pam", name=f"guest-{vmid}", full=True)
    b.start(node, vmid, "root@pam")
    b.clock.advance(60)  # type: ignore[attr-defined]
    return vmid


def _backups(b: Backend, storage: str = "nfs-backup") -> list[dict[str, Any]]:
    return b.storage_content("pve1", storage, "backup")


@pytest.mark.parametrize(
    ("event", "after", "expected"),
    [
        ("daily", "2026-12-04 03:30", "2026-12-05 00:00"),
        ("02:30", "2026-12-04 03:30", "2026-12-05 02:30"),
        ("mon..fri 21:00", "2026-12-04 22:00", "2026-12-07 21:00"),
        ("sat,sun 4:15", "2026-12-04 03:30", "2026-12-05 04:15"),
        ("*/15", "2026-12-04 03:30", "2026-12-04 03:45"),
        ("monthly", "2026-12-04 03:30", "2027-01-01 00:00"),
        ("weekly", "2026-12-04 03:30", "2026-12-07 00:00"),
    ],
)
def test_calendar_events_fire_when_pve_would(event: str, after: str, expected: str) -> None:
    start = dt.datetime.fromisoformat(after).replace(tzinfo=dt.UTC).timestamp()
    nxt = calendar.parse(event).next_after(start)
    assert nxt is not None
    assert dt.datetime.fromtimestamp(nxt, dt.UTC).strftime("%Y-%m-%d %H:%M") == expected


@pytest.mark.parametrize("bad", ["", "tomorrow", "25:00", "mon..funday 2:00", "*/0", "1-40"])
def test_bad_calendar_events_are_refused(bad: str) -> None:
    with pytest.raises(calendar.CalendarEventError, match="unable to parse calendar event"):
        calendar.parse(bad)


def test_prune_marks_follow_pves_algorithm() -> None:
    day0 = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC).timestamp()
    backups = [{"volid": f"b{i}", "ctime": day0 + i * DAY, "protected": i == 0} for i in range(20)]
    marks = prune.mark(backups, prune.parse_keep("keep-daily=3,keep-weekly=2"))
    kept = sorted((b["volid"] for b in backups if marks[b["volid"]] == "keep"), key=lambda v: int(v[1:]))
    # b19..b17 (Fri 20 - Wed 18 Nov) are the three newest days and cover ISO week 47; keep-weekly then
    # keeps the newest of the two weeks before: Sun 15 Nov (b14, week 46) and Sun 8 Nov (b7, week 45)
    assert kept == ["b7", "b14", "b17", "b18", "b19"]
    assert marks["b0"] == "protected"
    assert prune.mark(backups, {"keep-all": 1})["b5"] == "keep"
    with pytest.raises(prune.PruneOptionError, match="keep-all cannot be set together"):
        prune.parse_keep("keep-all=1,keep-last=2")


def test_a_job_fires_on_the_simulated_clock_and_prunes_per_retention(backend: Backend, clock: FakeClock) -> None:
    vmid = _running_vm(backend)
    backend.job_create(
        {
            "id": "tenant-acme",
            "schedule": "02:00",
            "storage": "nfs-backup",
            "vmid": str(vmid),
            "mode": "snapshot",
            "compress": "zstd",
            "prune-backups": "keep-last=3",
            "notes-template": "{{guestname}} on {{node}}",
        }
    )
    assert backend.job_get("tenant-acme")["prune-backups"] == {"keep-last": 3}
    assert _backups(backend) == []
    for _ in range(5):
        clock.advance(DAY)
        backend.tick()
    backups = _backups(backend)
    assert len(backups) == 3, backups
    assert {b["notes"] for b in backups} == {f"guest-{vmid} on pve1"}
    assert all(b["volid"].endswith(".vma.zst") and b["subtype"] == "qemu" for b in backups)
    assert all(0 < b["size"] < 8 * 1024**3 for b in backups)
    runs = [t for t in backend.tasks.values() if t.ttype == "vzdump"]
    assert len(runs) == 5 and {t.user for t in runs} == {"root@pam"}


def test_job_changes_are_validated_and_applied_in_place(backend: Backend) -> None:
    with pytest.raises(PveError) as refused:
        backend.job_create({"id": "j", "schedule": "every night", "storage": "nfs-backup", "vmid": "200"})
    assert "unable to parse calendar event" in (refused.value.errors or {})["schedule"]
    with pytest.raises(PveError) as refused:
        backend.job_create({"id": "j", "schedule": "daily", "storage": "nfs-backup", "all": 1, "vmid": "200"})
    assert refused.value.errors == {"vmid": "option conflicts with option 'all'"}
    with pytest.raises(PveError) as refused:
        backend.job_create({"id": "j", "schedule": "daily", "storage": "local-lvm", "vmid": "200"})
    assert refused.value.errors == {"storage": "storage 'local-lvm' does not support backups"}
    assert backend.jobs == {}
    backend.job_create({"id": "j", "schedule": "daily", "storage": "nfs-backup", "vmid": "200"})
    backend.job_update("j", {"schedule": "sat 03:00", "prune-backups": "keep-weekly=4"}, [])
    job = backend.job_get("j")
    assert (job["schedule"], job["prune-backups"], job["type"]) == ("sat 03:00", {"keep-weekly": 4}, "vzdump")
    backend.job_update("j", {}, ["prune-backups"])
    assert "prune-backups" not in backend.job_get("j")
    backend.job_delete("j")
    with pytest.raises(PveError, match="job 'j' does not exist"):
        backend.job_get("j")


def test_protected_backups_survive_pruning_and_deletion(backend: Backend, clock: FakeClock) -> None:
    vmid = _running_vm(backend)
    backend.vzdump("pve1", [vmid], "nfs-backup", "root@pam", {"protected": 1, "notes-template": "final"})
    clock.advance(DAY)
    for _ in range(3):
        backend.vzdump("pve1", [vmid], "nfs-backup", "root@pam", {"prune-backups": "keep-last=1"})
        clock.advance(DAY)
    backups = sorted(_backups(backend), key=lambda b: b["ctime"])
    assert [b.get("protected", 0) for b in backups] == [1, 0]
    with pytest.raises(PveError, match="cannot remove protected archive"):
        backend.volume_delete("pve1", "nfs-backup", backups[0]["volid"], "root@pam")
    backend.volume_attributes("pve1", "nfs-backup", backups[0]["volid"], None, False)
    backend.volume_delete("pve1", "nfs-backup", backups[0]["volid"], "root@pam")
    assert len(_backups(backend)) == 1


def test_restore_brings_back_the_data_as_it_was(
    prox_admin: ProxmoxAPI, prox: ProxmoxAPI, live_backend: Backend
) -> None:
    """Marker written through the guest agent -> backup -> changed -> in-place restore -> the old marker."""
    node = prox.nodes("pve1")
    vmid = int(prox.cluster.nextid.get())
    wait(prox, node.qemu(9000).clone.post(newid=vmid, name="tenant-a", pool="tenants", full=1))
    wait(prox, node.qemu(vmid).status.start.post())
    live_backend.settings.durations.table["agent_boot"] = 0
    agent = prox_admin.nodes("pve1").qemu(vmid).agent
    agent("file-write").post(file="/srv/marker", content="before backup")
    mac = node.qemu(vmid).config.get()["net0"]
    backup_upid = node.vzdump.post(vmid=vmid, storage="local", compress="zstd", **{"notes-template": "{{vmid}}"})
    assert wait(prox, backup_upid)["exitstatus"] == "OK"
    [backup] = node.storage("local").content.get(content="backup", vmid=vmid)
    assert backup["notes"] == str(vmid)
    agent("file-write").post(file="/srv/marker", content="after backup")

    with pytest.raises(ResourceException, match="is running"):
        node.qemu.post(vmid=vmid, archive=backup["volid"], force=1)
    wait(prox, node.qemu(vmid).status.stop.post())
    assert wait(prox, node.qemu.post(vmid=vmid, archive=backup["volid"], force=1))["exitstatus"] == "OK"
    assert node.qemu(vmid).config.get()["net0"] == mac  # same MAC, so the same address
    assert vmid in live_backend.pools["tenants"].vms  # the config file and its pool membership stay
    wait(prox, node.qemu(vmid).status.start.post())
    assert agent("file-read").get(file="/srv/marker")["content"] == "before backup"


def test_restore_permissions_follow_pve(prox: ProxmoxAPI, prox_admin: ProxmoxAPI, live_backend: Backend) -> None:
    """PVE's check_volume_access: a backup is readable by who may back up its VM, and restorable into the
    VM id it was taken from; into another id, one whose VM is gone needs Datastore.Allocate on its storage."""
    node = prox.nodes("pve1")
    vmid = int(prox.cluster.nextid.get())
    wait(prox, node.qemu(9000).clone.post(newid=vmid, name="tenant-b", pool="tenants", full=1))
    live_backend.access.roles["TenantProvisioner"].discard("VM.Backup")
    with pytest.raises(ResourceException, match=r"VM\.Backup"):
        node.vzdump.post(vmid=vmid, storage="local")
    live_backend.access.roles["TenantProvisioner"].add("VM.Backup")
    wait(prox, node.vzdump.post(vmid=vmid, storage="local"))
    with pytest.raises(ResourceException, match=r"Datastore\.Allocate"):
        node.vzdump.post(vmid=vmid, storage="local", **{"prune-backups": "keep-last=1"})
    [backup] = node.storage("local").content.get(content="backup")
    wait(prox, node.qemu(vmid).delete())
    other = vmid + 1
    with pytest.raises(ResourceException, match=rf"/vms/{vmid}, VM\.Backup"):  # its VM is gone: nobody's backup
        node.qemu.post(vmid=other, archive=backup["volid"], pool="tenants")
    assert wait(prox, node.qemu.post(vmid=vmid, archive=backup["volid"], pool="tenants"))["exitstatus"] == "OK"
    for subject in ({"user": "svc@pve"}, {"token": "svc@pve!prov"}):  # a privilege-separated token needs both
        live_backend.access.add_acl("/storage/local", "PVEDatastoreAdmin", **subject)
    assert wait(prox, node.qemu.post(vmid=other, archive=backup["volid"], pool="tenants"))["exitstatus"] == "OK"
    with pytest.raises(ResourceException, match=r"Sys\.Modify"):
        prox.cluster.backup.post(id="nightly", schedule="daily", storage="local", vmid=str(vmid))
    prox_admin.cluster.backup.post(id="nightly", schedule="daily", storage="local", vmid=str(vmid))
    assert [j["id"] for j in prox_admin.cluster.backup.get()] == ["nightly"]


def test_bpg_style_job_round_trip(prox_admin: ProxmoxAPI) -> None:
    """What the bridged provider's backup.Job sends and reads back."""
    prox_admin.cluster.backup.post(
        id="tenant-acme",
        schedule="*-*-* 02:00",
        storage="nfs-backup",
        vmid="9000",
        mode="snapshot",
        enabled=1,
        **{"prune-backups": "keep-daily=7,keep-weekly=4", "notes-template": "{{guestname}}"},
    )
    job = prox_admin.cluster.backup("tenant-acme").get()
    assert job["prune-backups"] == {"keep-daily": 7, "keep-weekly": 4}
    assert (job["vmid"], job["enabled"], job["storage"]) == ("9000", 1, "nfs-backup")
    prox_admin.cluster.backup("tenant-acme").put(schedule="sat 03:00", delete="notes-template")
    job = prox_admin.cluster.backup("tenant-acme").get()
    assert job["schedule"] == "sat 03:00" and "notes-template" not in job
    with pytest.raises(ResourceException, match="unable to parse calendar event"):
        prox_admin.cluster.backup("tenant-acme").put(schedule="someday")
