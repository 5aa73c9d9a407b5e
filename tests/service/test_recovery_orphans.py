"""Recovery of VMs a dead run cloned, against the Proxmox simulator: it deletes only what it can prove.

A VM is deleted only with crash evidence (a stale lock of a dead process, or pending operations), only
when no live run holds the stack, and only when its tags and pool name the tenant; everything else is
reported. The stack side is a small in-memory :class:`~provisioning.recovery.StackState`; the engine side of
the same decisions runs in ``tests/service_e2e/test_orphan_recovery.py``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks

from components.naming import FIREWALL_RULES_TYPE, VM_TYPE
from provisioning.firewall_rules import clear_unrecorded_backup_job, clear_unrecorded_rules, vms_without_rules
from provisioning.recovery import RecoveryReport, TenantMarks, recover_stack
from sim.proxmox.backend import Backend
from sim.proxmox.seed import credentials
from sim.proxmox.server import ThreadedServer
from sim.proxmox.tasks import REALISTIC

MARKS = TenantMarks("acme", frozenset({"dokploy-cloud", "tenant-acme"}), "local-acme")
TEMPLATE, NODE = 9000, "pve1"


@pytest.fixture
def api(live: tuple[ThreadedServer, Backend]) -> ProxmoxAPI:
    server, backend = live
    backend.reset(0, 3)
    backend.settings.durations.set_speed(1.0)
    backend.settings.durations.table = dict.fromkeys(REALISTIC, 0.0)
    c = credentials(backend)["admin"]
    prox = ProxmoxAPI(
        "127.0.0.1",
        port=server.port,
        user=c["user"],
        token_name=c["token_name"],
        token_value=c["token_value"],
        verify_ssl=False,
        timeout=5,
    )
    for pool in ("local-acme", "local-other"):
        prox.pools.post(poolid=pool)
    return prox


class FakeStack:
    """A stack's checkpoint and lock as recovery sees them; records what recovery changed."""

    name = "local.acme"

    def __init__(
        self,
        vmids: set[int] | None = None,
        pending: list[dict[str, Any]] | None = None,
        locks: list[dict[str, Any]] | None = None,
    ) -> None:
        self._vmids, self._pending, self._locks = set(vmids or ()), list(pending or ()), list(locks or ())
        self.cleared_lock = False
        self.vmid_reads = 0

    def locks(self) -> list[dict[str, Any]]:
        return list(self._locks)

    def clear_lock(self) -> None:
        self._locks, self.cleared_lock = [], True

    def pending(self) -> list[dict[str, Any]]:
        return list(self._pending)

    def drop_pending(self) -> list[dict[str, Any]]:
        dropped, self._pending = self._pending, []
        return dropped

    def vmids(self) -> set[int]:
        self.vmid_reads += 1
        return set(self._vmids)


def _pending_create() -> list[dict[str, Any]]:
    return [
        {
            "type": "creating",
            "resource": {"urn": "urn:pulumi:local.acme::dokploy-cloud::proxmoxve:index/vmLegacy:VmLegacy::acme-s0-vm"},
        }
    ]


def _dead_lock() -> dict[str, Any]:
    dead = subprocess.Popen(["true"])
    dead.wait()
    return {"pid": dead.pid, "hostname": socket.gethostname(), "timestamp": "2026-01-01T00:00:00Z"}


def _vm(
    api: ProxmoxAPI,
    vmid: int,
    *,
    pool: str | None = "local-acme",
    tags: str | None = "dokploy-cloud;plan-starter;tenant-acme",
    running: bool = False,
) -> int:
    """A clone at ``vmid`` as a run of the program leaves it: in ``pool``, tagged ``tags``."""
    node = api.nodes(NODE)
    extra = {"pool": pool} if pool else {}
    Tasks.blocking_status(
        api,
        node.qemu(TEMPLATE).clone.post(newid=vmid, name=f"acme-1-x{vmid}", **extra),
        timeout=10,
        polling_interval=0.05,
    )
    if tags:
        node.qemu(vmid).config.put(tags=tags)
    if running:
        Tasks.blocking_status(api, node.qemu(vmid).status.start.post(), timeout=10, polling_interval=0.05)
    return vmid


def _exists(api: ProxmoxAPI, vmid: int) -> bool:
    return any(int(vm["vmid"]) == vmid for vm in api.cluster.resources.get(type="vm"))


def _recover(
    stack: FakeStack,
    api: ProxmoxAPI,
    allocated: set[int],
    dry_run: bool = False,
    adoptable: frozenset[int] = frozenset(),
) -> RecoveryReport:
    report = RecoveryReport(stack.name, dry_run=dry_run)
    recover_stack(stack, api, allocated, MARKS, report, timeout=20, adoptable=adoptable)
    return report


def test_a_live_tenants_vm_is_kept_without_crash_evidence(api: ProxmoxAPI) -> None:
    vmid = _vm(api, 4101, running=True)  # tagged and pooled for acme, yet the state lacks it
    stack = FakeStack()
    report = _recover(stack, api, {vmid})
    assert _exists(api, vmid)
    assert report.orphan_vms_deleted == [] and report.crash_evidence == [] and not stack.cleared_lock
    assert [(u["vmid"], "no crash evidence" in u["reason"]) for u in report.unproven_vms] == [(vmid, True)]


def test_a_vm_without_the_tenants_tags_or_pool_is_kept_even_after_a_crash(api: ProxmoxAPI) -> None:
    untagged = _vm(api, 4102, tags="dokploy-cloud;tenant-other")
    foreign_pool = _vm(api, 4103, pool="local-other")
    stack = FakeStack(pending=_pending_create(), locks=[_dead_lock()])
    report = _recover(stack, api, {untagged, foreign_pool})
    assert _exists(api, untagged) and _exists(api, foreign_pool)
    assert report.lock_cleared and report.pending_dropped == ["creating acme-s0-vm"]
    reasons = {u["vmid"]: u["reason"] for u in report.unproven_vms}
    assert "tag 'tenant-acme' missing" in reasons[untagged]
    assert "pool is 'local-other', not 'local-acme'" in reasons[foreign_pool]
    assert report.orphan_vms_deleted == []


def test_a_genuine_orphan_after_a_crash_is_deleted(api: ProxmoxAPI) -> None:
    orphan = _vm(api, 4104, running=True)
    recorded = _vm(api, 4105)
    stack = FakeStack(vmids={recorded}, pending=_pending_create())
    report = _recover(stack, api, {orphan, recorded})
    assert not _exists(api, orphan) and _exists(api, recorded)
    assert report.orphan_vms_deleted == [orphan] and report.unproven_vms == []
    assert report.crash_evidence == ["pending operations: creating acme-s0-vm"] and stack.pending() == []


def test_nothing_changes_while_a_live_run_holds_the_stack(api: ProxmoxAPI) -> None:
    orphan = _vm(api, 4106)
    live = {"pid": os.getpid(), "hostname": socket.gethostname(), "timestamp": "2026-01-01T00:00:00Z"}
    stack = FakeStack(pending=_pending_create(), locks=[live])
    report = _recover(stack, api, {orphan})
    assert _exists(api, orphan) and stack.pending() and not stack.cleared_lock
    assert report.live_lock == [f"pid {os.getpid()} on {socket.gethostname()}"] and report.orphan_vms_deleted == []


def test_a_dry_run_reports_and_changes_nothing(api: ProxmoxAPI) -> None:
    orphan = _vm(api, 4107)
    stack = FakeStack(pending=_pending_create(), locks=[_dead_lock()])
    report = _recover(stack, api, {orphan}, dry_run=True)
    assert _exists(api, orphan) and stack.pending() and not stack.cleared_lock
    assert report.crash_evidence and report.pending_dropped == [] and report.orphan_vms_deleted == []
    assert [u["vmid"] for u in report.unproven_vms] == [orphan] and "dry run" in report.unproven_vms[0]["reason"]


def test_the_state_is_read_again_after_waiting_for_a_dead_runs_task(
    api: ProxmoxAPI, live: tuple[ThreadedServer, Backend]
) -> None:
    live[1].settings.durations.table["qmclone"] = 1.0  # the dead run's clone task is still running
    node = api.nodes(NODE)
    vmid = 4108
    node.qemu(TEMPLATE).clone.post(newid=vmid, name="acme-1-late", pool="local-acme")
    assert node.qemu(vmid).config.get().get("lock") == "clone"

    class RecordedMeanwhile(FakeStack):
        """The state gains the VM while recovery waits (what a run finishing its create would record)."""

        def vmids(self) -> set[int]:
            return {vmid} if super().vmids() and self.vmid_reads > 1 else set()

    stack = RecordedMeanwhile(vmids={vmid}, pending=_pending_create())
    started = time.monotonic()
    report = _recover(stack, api, {vmid})
    assert time.monotonic() - started >= 0.5 and report.waited_for_tasks == {vmid: "clone"}
    assert _exists(api, vmid) and report.orphan_vms_deleted == [] and stack.vmid_reads >= 2


def test_a_claimed_warm_vm_is_kept_for_the_next_up_to_adopt(api: ProxmoxAPI) -> None:
    """Found by the kill-point sweep (warm-claim, killed as the VM resource started): recovery deleted the warm VM
    the tenant had claimed, and every later run failed, since a claimed server is adopted, never cloned."""
    claimed = _vm(api, 4109, running=True)
    stack = FakeStack(pending=_pending_create(), locks=[_dead_lock()])
    report = _recover(stack, api, {claimed}, adoptable=frozenset({claimed}))
    assert _exists(api, claimed)
    assert report.warm_vms_kept == [claimed] and report.orphan_vms_deleted == [] and report.unproven_vms == []


def _rules(api: ProxmoxAPI, vmid: int) -> list[str]:
    return [str(r.get("comment", "")) for r in api.nodes(NODE).qemu(vmid).firewall.rules.get()]


def _deployment(vmids: list[int], ruled: list[int]) -> dict[str, Any]:
    """A checkpoint recording ``vmids`` and the rules resources of ``ruled``."""
    vms = [{"type": VM_TYPE, "id": str(v), "inputs": {"nodeName": NODE}, "outputs": {"nodeName": NODE}} for v in vmids]
    rules = [{"type": FIREWALL_RULES_TYPE, "id": f"vm-{v}", "inputs": {"nodeName": NODE, "vmId": v}} for v in ruled]
    return {"resources": vms + rules}


def test_firewall_rules_no_state_records_are_removed_from_the_tenants_vms_only(api: ProxmoxAPI) -> None:
    """Found by the kill-point sweep (killed right after the rules were written, before the state recorded them)
    and by the soak (a 500 while writing them): bpg refuses to create rules over existing ones ("Existing rules
    detected"), so every later run of the tenant failed."""
    half, foreign, complete = (
        _vm(api, 4110, running=True),
        _vm(api, 4111, tags="dokploy-cloud;tenant-other"),
        _vm(api, 4112),
    )
    for vmid in (half, foreign, complete):
        for port in ("22", "443"):
            api.nodes(NODE).qemu(vmid).firewall.rules.post(
                type="in", action="ACCEPT", proto="tcp", dport=port, comment=f"allow {port}", enable=1
            )
    deployment = _deployment([half, foreign, complete], ruled=[complete])
    assert vms_without_rules(deployment) == [(NODE, half), (NODE, foreign)]
    assert clear_unrecorded_rules(api, deployment, MARKS) == [half]
    assert _rules(api, half) == []
    assert sorted(_rules(api, foreign)) == ["allow 22", "allow 443"], "another tenant's VM is left alone"
    assert sorted(_rules(api, complete)) == ["allow 22", "allow 443"], "recorded rules are the state's"


def test_a_backup_job_a_failed_run_created_but_never_recorded_is_removed(api: ProxmoxAPI) -> None:
    """Found by the fault soak: the job's create answered 500 after Proxmox had stored it, and every later create
    was refused ("Job 'dc_local_acme' already exists")."""
    vmid = _vm(api, 4113)
    storage = next(s["storage"] for s in api.storage.get() if "backup" in str(s.get("content", "")))
    api.cluster.backup.post(id="dc_local_acme", schedule="02:00", storage=storage, vmid=str(vmid), mode="snapshot")
    assert clear_unrecorded_backup_job(api, "dc_local_acme")
    assert "dc_local_acme" not in [j["id"] for j in api.cluster.backup.get()]
    assert not clear_unrecorded_backup_job(api, "dc_local_acme"), "none left: nothing to do"
