"""Data safety through the real engine and simulator, with the least-privilege token: a plan's backup job
fires on the simulated clock and prunes per retention; a plan change updates it in place; an on-demand
backup restores a server's data in place; decommission archives first; undelete brings the tenant back
with its data; the purge removes archives after their window."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI

from components.naming import backup_job_id
from components.spec import dump_tenant
from provisioning.archive import undelete_declaration
from provisioning.backups import RestoreRefused
from provisioning.tenant_backups import TenantBackups
from sim.proxmox.backend import Backend
from sim.proxmox.core import SimClock
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine
SLUG, REGION, DAY = "bravo", "pve-eu1", 86400
MARKER = "/srv/app/marker.txt"
_state: dict[str, Any] = {}


def _backend(cloud: CloudUnderTest) -> Backend:
    return cloud.cloud.proxmox[REGION][0].backend


def _clock(cloud: CloudUnderTest) -> SimClock:
    clock = _backend(cloud).clock
    assert isinstance(clock, SimClock)
    return clock


def _workload(cloud: CloudUnderTest) -> ProxmoxAPI:
    """The tenant's own workload writing files on its server: a token with guest-agent file access only."""
    backend = _backend(cloud)
    if "workload" not in _state:
        secret = str(uuid.uuid4())
        pool = cloud.stacks.environment.regions[REGION].pool
        with backend.lock:
            backend.access.roles["TenantWorkload"] = {"VM.GuestAgent.FileWrite", "VM.GuestAgent.FileRead"}
            backend.access.add_user("workload@pve")
            backend.access.add_token("workload@pve", "files", secret, privsep=False)
            backend.access.add_acl(f"/pool/{pool}", "TenantWorkload", user="workload@pve")
        port = int(cloud.stacks.environment.regions[REGION].endpoint.rsplit(":", 1)[1].strip("/"))
        _state["workload"] = ProxmoxAPI(
            "127.0.0.1", port=port, user="workload@pve", token_name="files", token_value=secret, verify_ssl=False
        )
    api: ProxmoxAPI = _state["workload"]
    return api


def _write(cloud: CloudUnderTest, vmid: int, text: str) -> None:
    node = _backend(cloud).vms[vmid].node
    _workload(cloud).nodes(node).qemu(vmid).agent("file-write").post(file=MARKER, content=text)


def _read(cloud: CloudUnderTest, vmid: int) -> str:
    node = _backend(cloud).vms[vmid].node
    return str(_workload(cloud).nodes(node).qemu(vmid).agent("file-read").get(file=MARKER)["content"])


def _wait_agent(cloud: CloudUnderTest, vmid: int) -> None:
    backend, deadline = _backend(cloud), time.monotonic() + 30
    while not backend.agent_ready(backend.vms[vmid]):
        assert time.monotonic() < deadline, f"VM {vmid}'s agent never came up"
        time.sleep(0.1)


def test_step1_a_business_tenant_gets_the_backup_job_of_its_plan(local_cloud: CloudUnderTest) -> None:
    result = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert result.ok, result.error
    vmids = result.outputs["vmIds"]
    job = _backend(local_cloud).job_get(backup_job_id("local", SLUG))
    plan = local_cloud.stacks.environment.plans["business"].backups
    assert plan is not None
    assert (job["schedule"], job["storage"], job["mode"]) == (plan.schedule, plan.storage, plan.mode)
    assert job["prune-backups"] == {f"keep-{k}": v for k, v in plan.keep.items()}
    assert sorted(int(v) for v in job["vmid"].split(",")) == sorted(vmids)
    assert local_cloud.stacks.run(local_cloud.tenant(SLUG), "preview").changes.keys() <= {"same"}
    _state["vmids"] = vmids


def test_step2_the_job_fires_on_the_simulated_clock_and_prunes_per_retention(local_cloud: CloudUnderTest) -> None:
    backend, clock = _backend(local_cloud), _clock(local_cloud)
    vmid = _state["vmids"][0]
    for _ in range(16):
        clock.advance(DAY)
        backend.tick()
    backups = TenantBackups(local_cloud.stacks).backups(local_cloud.tenant(SLUG))
    assert {b.vmid for b in backups} == set(_state["vmids"])
    mine = sorted((b for b in backups if b.vmid == vmid), key=lambda b: -b.ctime)
    days = [time.strftime("%Y-%m-%d", time.gmtime(b.ctime)) for b in mine]
    weeks = [time.strftime("%G-%V", time.gmtime(b.ctime)) for b in mine]
    assert len(days) == len(set(days)), "one scheduled backup per day"
    assert 7 < len(mine) <= 7 + 4, days
    newest_days = {time.strftime("%Y-%m-%d", time.gmtime(time.time() + clock.offset - d * DAY)) for d in range(7)}
    assert set(days[:7]) == newest_days, "keep-daily=7: the last seven days"
    older = weeks[7:]
    assert len(older) == len(set(older)) and not set(older) & set(weeks[:7]), "keep-weekly: one per older week"
    assert all(b.kind == "backup" and b.tenant == SLUG and 0 < b.size < 100 * 1024**3 for b in mine)


def test_step3_a_plan_change_updates_the_job_in_place(local_cloud: CloudUnderTest) -> None:
    backend, job_id = _backend(local_cloud), backup_job_id("local", SLUG)
    last_run = backend.job_last_run[job_id]
    spec = local_cloud.tenants_dir / f"{SLUG}.yaml"
    spec.write_text(spec.read_text().replace("plan: business", "plan: enterprise"))
    result = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert result.ok, result.error
    assert "replace" not in result.changes and "create" not in result.changes, result.changes
    job = backend.job_get(job_id)
    assert (job["schedule"], job["prune-backups"]["keep-monthly"]) == ("01:00", 6)
    assert backend.job_last_run[job_id] == last_run, "the same job, changed in place"


def test_step3b_a_suspended_tenant_keeps_its_job_and_its_stopped_servers_are_backed_up(
    local_cloud: CloudUnderTest,
) -> None:
    backend, clock, job_id = _backend(local_cloud), _clock(local_cloud), backup_job_id("local", SLUG)
    spec = local_cloud.tenants_dir / f"{SLUG}.yaml"
    spec.write_text(spec.read_text() + "state: suspended\n")
    suspended = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert suspended.ok, suspended.error
    assert {backend.vms[v].status for v in _state["vmids"]} == {"stopped"} and job_id in backend.jobs
    before = {b.volid for b in TenantBackups(local_cloud.stacks).backups(local_cloud.tenant(SLUG))}
    clock.advance(DAY)
    backend.tick()
    after = TenantBackups(local_cloud.stacks).backups(local_cloud.tenant(SLUG))
    assert {b.vmid for b in after if b.volid not in before} == set(_state["vmids"])
    spec.write_text(spec.read_text().replace("state: suspended\n", ""))
    resumed = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert resumed.ok, resumed.error


def test_step4_on_demand_backup_then_in_place_restore_brings_the_data_back(local_cloud: CloudUnderTest) -> None:
    tenant, backups = local_cloud.tenant(SLUG), TenantBackups(local_cloud.stacks)
    vmid = _state["vmids"][0]
    _wait_agent(local_cloud, vmid)
    _write(local_cloud, vmid, "orders as of the backup")
    lines: list[str] = []
    [fresh] = backups.backup(tenant, server=0, on_progress=lines.append)
    assert fresh.vmid == vmid and fresh.kind == "backup" and any("Finished Backup" in line for line in lines)
    assert backups.protect(tenant, fresh.volid).protected
    _write(local_cloud, vmid, "orders after a bad migration")
    vm = _backend(local_cloud).vms[vmid]
    mac, address = vm.config["net0"], _backend(local_cloud).guest_ipv4(vm)

    with pytest.raises(RestoreRefused, match="is running"):
        backups.restore(tenant, fresh.volid, 0)
    report = backups.restore(tenant, fresh.volid, 0, stop=True)
    assert report.restored == [{"server": 0, "vmid": vmid, "from": fresh.volid, "in_place": True}]
    _wait_agent(local_cloud, vmid)
    assert _read(local_cloud, vmid) == "orders as of the backup"
    vm = _backend(local_cloud).vms[vmid]
    assert vm.config["net0"] == mac and _backend(local_cloud).guest_ipv4(vm) == address
    preview = local_cloud.stacks.run(tenant, "preview")
    assert preview.ok and preview.changes.keys() <= {"same"}, preview.changes
    assert local_cloud.cloud.dokploy is not None
    registered = [s for s in local_cloud.cloud.dokploy[0].servers.values() if s.organization_id == "org_bravo"]
    assert address is not None and address[0] in {s.ip_address for s in registered}


def test_step4b_a_downgrade_to_fewer_servers_archives_the_removed_one_first(local_cloud: CloudUnderTest) -> None:
    spec = local_cloud.tenants_dir / f"{SLUG}.yaml"
    removed = _state["vmids"][1]
    _wait_agent(local_cloud, removed)
    _write(local_cloud, removed, "data of the server the downgrade removes")
    spec.write_text(spec.read_text().replace("servers: 2", "servers: 1"))
    fewer = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert fewer.ok, fewer.error
    assert removed not in _backend(local_cloud).vms
    [archive] = fewer.outputs["removedServersArchived"]
    assert (archive["server"], archive["vmid"], archive["reason"]) == (1, removed, "downgrade")
    spec.write_text(spec.read_text().replace("servers: 1", "servers: 2"))
    more = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert more.ok, more.error
    _state["vmids"] = more.outputs["vmIds"]


def test_step5_decommission_archives_first_then_destroys(local_cloud: CloudUnderTest) -> None:
    tenant = local_cloud.tenant(SLUG)
    vmids = _state["vmids"]
    _write(local_cloud, vmids[1], "server two's last words")
    result = local_cloud.stacks.run(tenant, "destroy")
    assert result.ok, result.error
    today = dt.datetime.now(dt.UTC).date()
    archives = [a for a in TenantBackups(local_cloud.stacks).archives(SLUG) if a.reason == "decommission"]
    assert sorted((a.server, a.vmid) for a in archives) == [(0, vmids[0]), (1, vmids[1])]
    window = local_cloud.stacks.environment.archive
    assert window is not None and all(a.storage == window.storage for a in archives)
    assert all(a.delete_after == (today + dt.timedelta(days=window.retention_days)).isoformat() for a in archives)
    assert result.outputs["archivedUntil"] == archives[0].delete_after
    assert not set(vmids) & set(_backend(local_cloud).vms), "the servers are gone"
    assert backup_job_id("local", SLUG) not in _backend(local_cloud).jobs
    (local_cloud.tenants_dir / f"{SLUG}.yaml").unlink()  # decommissioned: the declaration leaves git too
    _state["archives"] = archives


def test_step6_undelete_within_the_window_brings_the_tenant_back_with_its_data(local_cloud: CloudUnderTest) -> None:
    backups = TenantBackups(local_cloud.stacks)
    spec = undelete_declaration(backups.archives(SLUG), local_cloud.stacks.environment)
    assert (spec.slug, spec.plan, spec.servers) == (SLUG, "enterprise", 2)
    (local_cloud.tenants_dir / f"{SLUG}.yaml").write_text(dump_tenant(spec))
    report = backups.undelete(local_cloud.tenant(SLUG))
    assert report.applied is not None and report.applied.ok
    vmids = report.applied.outputs["vmIds"]
    assert vmids == _state["vmids"], "each server comes back with its archived VM id and address"
    assert [r["server"] for r in report.restored] == [0, 1]
    for vmid in vmids:
        _wait_agent(local_cloud, vmid)
    assert [_read(local_cloud, v) for v in vmids] == ["orders as of the backup", "server two's last words"]
    address = _backend(local_cloud).guest_ipv4(_backend(local_cloud).vms[vmids[0]])
    assert address is not None and address[0] == report.applied.outputs["addresses"][0]
    assert report.applied.outputs["hostnames"] == [
        a.hostname for a in sorted(_state["archives"], key=lambda a: a.server)
    ]
    assert all(report.applied.outputs["dokployServerIds"])
    again = backups.undelete(local_cloud.tenant(SLUG))
    assert again.restored == [], "a second undelete restores nothing twice"
    preview = local_cloud.stacks.run(local_cloud.tenant(SLUG), "preview")
    assert preview.ok and preview.changes.keys() <= {"same"}, preview.changes


def test_step7_the_purge_removes_archives_only_after_their_date(local_cloud: CloudUnderTest) -> None:
    backups = TenantBackups(local_cloud.stacks)
    archives = backups.archives(SLUG)
    last_day = dt.date.fromisoformat(max(a.delete_after for a in archives))
    assert backups.purge(today=last_day) == []
    removed = backups.purge(today=last_day + dt.timedelta(days=1))
    assert sorted(a.volid for a in removed) == sorted(a.volid for a in archives)
    assert backups.archives(SLUG) == []
