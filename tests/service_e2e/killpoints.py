"""Kill points of a provisioning run: how to slow the simulators so the point lasts, and how to see it.

Each point is detected from the simulators' state, the state backend and DNS (what an operator could
observe), never from timing alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.service_e2e.harness import EngineCloud
from tests.service_e2e.observe import allocated_vmids, dokploy_servers, resolve, state_vmids, tenant_vms


@dataclass(frozen=True)
class Tenant:
    """The tenant a kill point watches."""

    slug: str
    org: str

    def hostname(self, cloud: EngineCloud) -> str:
        return f"{self.slug}.{cloud.environment.zone}"


Probe = Callable[[EngineCloud, Tenant], bool]


def _vms(cloud: EngineCloud, t: Tenant) -> list[Any]:
    return tenant_vms(cloud, t.slug)


def before_clone(cloud: EngineCloud, t: Tenant) -> bool:
    return bool(allocated_vmids(cloud, t.slug)) and not _vms(cloud, t)


def during_clone(cloud: EngineCloud, t: Tenant) -> bool:
    return any(vm.lock == "clone" for vm in _vms(cloud, t))


def after_vm_start(cloud: EngineCloud, t: Tenant) -> bool:
    return any(vm.status == "running" and not vm.agent_ready for vm in _vms(cloud, t))


def between_dns_and_dokploy(cloud: EngineCloud, t: Tenant) -> bool:
    vms = _vms(cloud, t)
    return (
        bool(vms)
        and all(vm.vmid in state_vmids(cloud) for vm in vms)
        and bool(resolve(cloud, t.hostname(cloud)))
        and not dokploy_servers(cloud, t.org)
    )


def during_dokploy_setup(cloud: EngineCloud, t: Tenant) -> bool:
    servers = dokploy_servers(cloud, t.org)
    return bool(servers) and not any(s["installed"] for s in servers)


def during_vm_destroy(cloud: EngineCloud, t: Tenant) -> bool:
    return any(vm.lock == "destroyed" for vm in _vms(cloud, t))


def after_dokploy_removed(cloud: EngineCloud, t: Tenant) -> bool:
    return not dokploy_servers(cloud, t.org) and bool(_vms(cloud, t))


def during_archive(cloud: EngineCloud, t: Tenant) -> bool:
    return any(vm.lock == "backup" for vm in _vms(cloud, t))


def after_archive_before_destroy(cloud: EngineCloud, t: Tenant) -> bool:
    """The final backup is recorded (its notes carry the declaration) and nothing is destroyed yet."""
    return bool(archive_volumes(cloud, t)) and bool(dokploy_servers(cloud, t.org)) and bool(_vms(cloud, t))


def during_restore_stop(cloud: EngineCloud, t: Tenant) -> bool:
    ids = {str(vm.vmid) for vm in _vms(cloud, t)}
    return any(
        task.ttype == "qmstop" and task.tid in ids and task.status == "running"
        for backend in cloud.proxmox_backends()
        for task in list(backend.tasks.values())
    )


def during_restore(cloud: EngineCloud, t: Tenant) -> bool:
    return any(vm.lock == "create" for vm in _vms(cloud, t))


def archive_volumes(cloud: EngineCloud, t: Tenant) -> list[Any]:
    """The tenant's archive volumes whose notes are complete (the declaration line written)."""
    return [
        vol
        for backend in cloud.proxmox_backends()
        for vol in list(backend.volumes.values())
        if vol.content == "backup" and f"tenant={t.slug} " in vol.notes and "declaration=" in vol.notes
    ]


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: the operation, the simulator slow-downs that make the point last, the probe."""

    name: str
    operation: str
    """``signup``, ``decommission`` or ``restore``."""
    probe: Probe
    proxmox_seconds: dict[str, float] = field(default_factory=dict)
    setup_seconds: float = 0.0
    dokploy_latency: dict[str, float] = field(default_factory=dict)
    """Dokploy procedure regex -> added latency (the simulator's path faults)."""


KILL_POINTS = (
    KillPoint("before-clone", "signup", before_clone, {"qmclone": 1.0}),
    KillPoint("during-clone", "signup", during_clone, {"qmclone": 8.0}),  # outlasts lease + restart: recovery waits
    KillPoint("after-vm-start", "signup", after_vm_start, {"agent_boot": 2.0}),
    KillPoint("between-dns-and-dokploy", "signup", between_dns_and_dokploy, dokploy_latency={r"sshKey\.create": 2.0}),
    KillPoint("during-dokploy-setup", "signup", during_dokploy_setup, setup_seconds=2.0),
    KillPoint("decommission-after-dokploy-removed", "decommission", after_dokploy_removed, {"qmstop": 2.0}),
    KillPoint("decommission-during-vm-destroy", "decommission", during_vm_destroy, {"qmdestroy": 2.0}),
    KillPoint("decommission-during-archive", "decommission", during_archive, {"vzdump": 3.0}),
    KillPoint(
        "decommission-after-archive",
        "decommission",
        after_archive_before_destroy,
        dokploy_latency={r"server\.remove": 3.0},
    ),
    KillPoint("restore-during-stop", "restore", during_restore_stop, {"qmstop": 3.0}),
    KillPoint("restore-during-qmrestore", "restore", during_restore, {"qmrestore": 3.0}),
)
SUMMARY: list[str] = []
"""The crash report's table, printed in pytest's terminal summary."""


def wait_for_point(
    cloud: EngineCloud, tenant: Tenant, point: KillPoint, timeout: float, alive: Callable[[], bool]
) -> None:
    """Poll ``point.probe`` until it holds; fail if the worker died or the point never came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if point.probe(cloud, tenant):
            return
        if not alive():
            raise AssertionError(f"the worker exited before reaching {point.name}")
        time.sleep(0.02)
    raise AssertionError(f"kill point {point.name} not reached within {timeout:.0f} s")


@dataclass
class KillRecord:
    """One row of the crash report."""

    kill_point: str
    operation: str
    at_kill: dict[str, Any]
    recovery: list[dict[str, Any]]
    attempts: int
    seconds_to_settle: float
    final: dict[str, Any]
    ok: bool


def snapshot(cloud: EngineCloud, tenant: Tenant) -> dict[str, Any]:
    """What the services held at one moment (for the report)."""
    vms = _vms(cloud, tenant)
    return {
        "vms": [
            {
                "vmid": v.vmid,
                "status": v.status,
                "lock": v.lock,
                "agent": v.agent_ready,
                "in_state": v.vmid in state_vmids(cloud),
            }
            for v in vms
        ],
        "dns": resolve(cloud, tenant.hostname(cloud)),
        "dokploy_servers": [{"installed": s["installed"]} for s in dokploy_servers(cloud, tenant.org)],
    }


def write_report(records: list[KillRecord], path: Path) -> list[str]:
    """Write the JSON report; return the table's lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) for r in records], indent=2))
    lines = [f"{'kill point':<36} {'op':<13} {'att':>3} {'settle s':>8}  {'final vm/dns/srv':<16} recovery", "-" * 120]
    for r in records:
        did = "; ".join(_describe(rep) for rep in r.recovery) or "nothing to recover"
        final = f"{r.final.get('vms')}/{r.final.get('dns')}/{r.final.get('servers')}"
        lines.append(
            f"{r.kill_point:<36} {r.operation:<13} {r.attempts:>3} {r.seconds_to_settle:>8.1f}  "
            f"{final:<16} {did}{'' if r.ok else '  [FAILED]'}"
        )
    lines.append(f"report: {path}")
    return lines


def _describe(report: dict[str, Any]) -> str:
    parts = []
    if report.get("lock_cleared"):
        parts.append("stale lock cleared")
    if report.get("pending_dropped"):
        parts.append("dropped pending " + ", ".join(report["pending_dropped"]))
    if report.get("waited_for_tasks"):
        parts.append("waited for " + ", ".join(f"{k}:{v}" for k, v in report["waited_for_tasks"].items()))
    if report.get("orphan_vms_deleted"):
        parts.append("deleted unrecorded VM " + ", ".join(map(str, report["orphan_vms_deleted"])))
    if report.get("unproven_vms"):
        parts.append("left unproven VM " + ", ".join(str(v["vmid"]) for v in report["unproven_vms"]))
    if report.get("refreshed"):
        parts.append("refreshed")
    return ", ".join(parts)
