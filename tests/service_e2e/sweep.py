"""The kill-point sweep's operations, what each must end as, and its report.

Every operation is a job the service runs (signup, a plan change, suspend, resume, decommission, a warm-pool
claim). A census run counts the engine's resource events the operation produces; the sweep then SIGKILLs a
worker right after each k-th of them (:mod:`provisioning.failpoints`), lets a fresh worker take the job over
and checks the invariants (:func:`violations`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from service.declare import redeclare, stored_spec
from tests.service_e2e.harness import EngineCloud, EngineService
from tests.service_e2e.observe import Footprint, allocated_vmids, footprint, unowned_vms


@dataclass(frozen=True)
class Expected:
    """What a tenant must look like once the operation's job succeeded."""

    servers: int
    """VMs = DNS records = Dokploy servers = SSH keys (0 after a decommission)."""
    vm_status: str = "running"
    memory_mb: int | None = None
    phase: str = "ready"
    rotated: bool = False
    """The tenant's key was rotated: Dokploy holds a key other than the one it had, and the servers accept only
    it; and at the kill, Dokploy could still log in to every server (:func:`dokploy_logins`)."""


@dataclass(frozen=True)
class SweepOperation:
    """One operation of the sweep: how to get a tenant ready for it, how to submit it, what it must end as."""

    name: str
    engine_operation: str
    """The engine operation whose events are counted (``up`` or ``destroy``)."""
    signup_fields: dict[str, Any]
    """What the tenant's signup says besides the defaults (e.g. a region with a warm pool)."""
    prepare: Callable[[EngineService, dict[str, Any]], None]
    """Bring the fresh tenant to where the operation starts (run in this process, at full speed)."""
    submit: Callable[[EngineService, dict[str, Any]], str]
    """Queue the operation's job; its id."""
    expected: Expected


def run_here(service: EngineService, job_id: str) -> None:
    """Run queued jobs in this process until ``job_id`` ended; it must have succeeded."""
    from service.worker import Worker, WorkerOptions

    options = WorkerOptions(
        service.settings.lease_seconds, service.settings.retry_base_seconds, service.settings.poll_seconds
    )
    worker = Worker(service.queue, service.runner(), options, worker_id="preparer")
    while service.job(job_id)["state"] in ("queued", "running"):
        worker.run_once()
    job = service.job(job_id)
    assert job["state"] == "succeeded", f"preparing: {job['error']}"


def change(service: EngineService, slug: str, **fields: Any) -> str:
    """Declare ``fields`` (plan, servers, state) for the tenant and queue the apply, as billing does."""
    spec = stored_spec(service.queue, service.cloud.environment, slug)
    new = redeclare(service.cloud.environment, spec, **fields)
    service.queue.update_declaration(slug, new.spec.plan, new.text)
    return service.queue.submit(slug, "reapply", int(service.settings.max_attempts)).job.id


def signup(service: EngineService, body: dict[str, Any]) -> str:
    return str(service.signup(body).json()["job_id"])


def provisioned(service: EngineService, body: dict[str, Any]) -> None:
    run_here(service, signup(service, body))


def suspended(service: EngineService, body: dict[str, Any]) -> None:
    provisioned(service, body)
    run_here(service, change(service, body["slug"], state="suspended"))


def decommission(service: EngineService, body: dict[str, Any]) -> str:
    return str(service.op("POST", f"/v1/tenants/{body['slug']}/decommission").json()["job_id"])


def nothing(service: EngineService, body: dict[str, Any]) -> None:
    return None


def warm_vm_ready(service: EngineService, body: dict[str, Any]) -> None:
    """The tenant's region has a ready warm VM for the signup to claim."""
    from provisioning.warm_pool import WarmPool

    pool = WarmPool(service.runner().stacks)
    pool.fill(body["region"])
    assert any(vm.state == "ready" for vm in pool.vms(body["region"])), "the warm pool has no ready VM"


def rotate(service: EngineService, body: dict[str, Any]) -> str:
    """Remember the key Dokploy holds now; queue the rotation as the operator's endpoint does."""
    body["_keys_before"] = dokploy_public_keys(service.cloud, body["organization_id"])
    answer = service.op("POST", f"/v1/tenants/{body['slug']}/rotate-keys")
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def dokploy_public_keys(cloud: EngineCloud, org: str) -> set[str]:
    """``type base64`` of the keys the organization's Dokploy servers use."""
    backend = cloud.dokploy
    with backend.lock:
        return {
            " ".join(backend.ssh_keys[s.ssh_key_id].public_key.split()[:2])
            for s in backend.servers.values()
            if s.organization_id == org and s.ssh_key_id in backend.ssh_keys
        }


def dokploy_logins(cloud: EngineCloud, org: str) -> list[str]:
    """Why Dokploy cannot log in to each of the organization's servers right now (empty: it can to all)."""
    from sim.dokploy.exceptions import TRPCError

    backend, failures = cloud.dokploy, []
    with backend.lock:
        for server in [s for s in backend.servers.values() if s.organization_id == org]:
            try:
                backend.ssh_connect(server)
            except TRPCError as err:
                failures.append(f"{server.server_id}: {err.message}")
    return failures


def operations(plans: dict[str, int], warm_region: str) -> list[SweepOperation]:
    """The swept operations; ``plans`` maps a plan to its memory (MiB); ``warm_region`` keeps a warm pool."""
    return [
        SweepOperation("signup", "up", {}, nothing, signup, Expected(1, memory_mb=plans["starter"])),
        SweepOperation(
            "warm-claim",
            "up",
            {"region": warm_region},
            warm_vm_ready,
            signup,
            Expected(1, memory_mb=plans["starter"]),
        ),
        SweepOperation(
            "upgrade",
            "up",
            {},
            provisioned,
            lambda s, b: change(s, b["slug"], plan="business"),
            Expected(1, memory_mb=plans["business"]),
        ),
        SweepOperation(
            "suspend",
            "up",
            {},
            provisioned,
            lambda s, b: change(s, b["slug"], state="suspended"),
            Expected(1, vm_status="stopped"),
        ),
        SweepOperation("resume", "up", {}, suspended, lambda s, b: change(s, b["slug"], state="active"), Expected(1)),
        SweepOperation("decommission", "destroy", {}, provisioned, decommission, Expected(0, phase="decommissioned")),
        SweepOperation("rotate-keys", "up", {}, provisioned, rotate, Expected(1, rotated=True)),
    ]


def violations(
    cloud: EngineCloud, service: EngineService, body: dict[str, Any], job: dict[str, Any], expected: Expected
) -> tuple[list[str], Footprint]:
    """Every invariant the tenant breaks after its job ended (none: it converged), and what it holds."""
    slug, org = body["slug"], body["organization_id"]
    seen = footprint(cloud, slug, org)
    broken = []
    if job["state"] != "succeeded":
        broken.append(f"job {job['state']}: {job['error']}")
    n = expected.servers
    if (*seen.counts(), seen.ssh_keys) != (n, n, n, n):
        broken.append(f"VMs/DNS/servers/keys {(*seen.counts(), seen.ssh_keys)} != {(n, n, n, n)}")
    if {vm.vmid for vm in seen.vms} != allocated_vmids(cloud, slug):
        broken.append(f"allocations {sorted(allocated_vmids(cloud, slug))} != VMs {[vm.vmid for vm in seen.vms]}")
    if orphans := unowned_vms(cloud):
        broken.append(f"VMs no stack owns: {orphans}")
    if n and seen.stack is False:
        broken.append("the tenant's stack is gone")
    if not n and seen.stack:
        broken.append("the decommissioned tenant's stack is left")
    for vm in seen.vms:
        if vm.status != expected.vm_status or vm.lock:
            broken.append(f"VM {vm.vmid} {vm.status} (lock {vm.lock}), expected {expected.vm_status}")
        if expected.memory_mb is not None and vm.memory_mb != expected.memory_mb:
            broken.append(f"VM {vm.vmid} has {vm.memory_mb} MiB, the plan {expected.memory_mb}")
    if not all(s["installed"] for s in seen.servers):
        broken.append("a Dokploy server without its setup")
    if expected.rotated:
        now = dokploy_public_keys(cloud, org)
        if now & set(body.get("_keys_before", ())):
            broken.append("Dokploy still uses the key from before the rotation")
        accepted = {
            " ".join(k.split()[:2])
            for g in cloud.proxmox().world_guests()
            for k in g["ssh_keys"]
            if g["vmid"] in {vm.vmid for vm in seen.vms}
        }
        if accepted != now:
            broken.append(f"the servers accept {len(accepted)} keys, not exactly Dokploy's new one")
        if login := dokploy_logins(cloud, org):
            broken.append(f"Dokploy cannot log in: {login}")
    phase = service.tenant(slug)["phase"]
    if phase != expected.phase:
        broken.append(f"tenant phase {phase}, expected {expected.phase}")
    return broken, seen


@dataclass
class SweepRecord:
    """One row of the sweep's report."""

    operation: str
    k: int
    of: int
    step: str
    """The k-th event: its phase (pre/done/failed), the step (create, update, delete...) and the resource."""
    recovery: str
    attempts: int
    seconds_to_settle: float
    final: str
    broken: list[str]

    @property
    def ok(self) -> bool:
        return not self.broken


def describe_step(event: dict[str, Any] | None) -> str:
    if event is None:
        return "?"
    return f"{event['phase']} {event['op']} {event['type'].rsplit(':', 1)[-1]} {event['name']}"


def describe_recovery(reports: list[dict[str, Any]]) -> str:
    """What the survivor's recovery did, in a few words."""
    parts = []
    for report in reports:
        if report.get("lock_cleared"):
            parts.append("lock cleared")
        if report.get("pending_dropped"):
            parts.append(f"{len(report['pending_dropped'])} pending dropped")
        if report.get("waited_for_tasks"):
            parts.append("waited for " + ",".join(str(v) for v in report["waited_for_tasks"].values()))
        if report.get("orphan_vms_deleted"):
            parts.append("deleted unrecorded VM " + ",".join(map(str, report["orphan_vms_deleted"])))
        if report.get("warm_vms_kept"):
            parts.append("kept claimed warm VM")
        if report.get("unproven_vms"):
            parts.append("reported unproven VM")
        if report.get("refreshed"):
            parts.append("refreshed")
    return "; ".join(dict.fromkeys(parts)) or "rerun only"


def write_sweep_report(records: list[SweepRecord], path: Path) -> list[str]:
    """Write the JSON report; the table's lines (one per point, then a count per operation)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(r) | {"ok": r.ok} for r in records], indent=2))
    lines = [
        f"{'operation':<13} {'k':>5} {'step killed after':<44} {'att':>3} {'settle':>6}  {'vm/dns/srv/key':<14} recovery",
        "-" * 130,
    ]
    for r in records:
        lines.append(
            f"{r.operation:<13} {f'{r.k}/{r.of}':>5} {r.step[:44]:<44} {r.attempts:>3} {r.seconds_to_settle:>6.1f}  "
            f"{r.final:<14} {r.recovery}{'' if r.ok else '  BROKEN: ' + '; '.join(r.broken)}"
        )
    per_op: dict[str, list[SweepRecord]] = {}
    for r in records:
        per_op.setdefault(r.operation, []).append(r)
    lines.append("-" * 130)
    for op, rows in per_op.items():
        lines.append(f"{op:<13} {len(rows)} points, {sum(r.ok for r in rows)} converged")
    lines.append(f"total: {len(records)} points, {sum(r.ok for r in records)} converged; report: {path}")
    return lines
