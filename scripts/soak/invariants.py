"""What must hold once the soak's faults stopped and every job ended: each a name, a verdict and the evidence.

Read from the simulators, PowerDNS over DNS, the state backend, the allocation store and the service's API,
never from the soak's own bookkeeping alone: the model (:class:`~scripts.soak.traffic.SoakTenant`) only says
what billing and the operators asked for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from provisioning.reconcile import reconcile
from provisioning.stacks import TenantStacks
from scripts.soak.rig import Rig
from scripts.soak.traffic import SoakTenant
from tests.service_e2e.observe import allocated_vmids, footprint, unowned_vms

CLEAR_ERROR_MIN_CHARS = 30


@dataclass
class Invariant:
    """One invariant and what broke it (empty: it holds)."""

    name: str
    broken: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not self.broken


def check(rig: Rig, tenants: Iterable[SoakTenant], job_ids: Iterable[str]) -> list[Invariant]:
    """Every invariant, in report order."""
    tenants = list(tenants)
    declared = Invariant("each tenant is as its declaration and billing say (plan, power state, phase)")
    one_each = Invariant("exactly one VM, DNS record, Dokploy server and SSH key per declared server")
    orphans = Invariant("no orphan VM, allocation, DNS record, Dokploy server, key or stack")
    jobs = Invariant("no job lost or left unfinished; one signup job per tenant")
    errors = Invariant("every failed job says what failed")
    in_sync = Invariant("the reconcile report is clean")
    plans = {name: plan.memory_mb for name, plan in rig.cloud.environment.plans.items()}
    for tenant in tenants:
        _tenant(rig, tenant, plans, declared, one_each, orphans)
    if stray := unowned_vms(rig.cloud):
        orphans.broken.append(f"VMs no stack owns: {stray}")
    _jobs(rig, tenants, list(job_ids), jobs, errors)
    stacks = TenantStacks(rig.service.settings.env_name)
    report = reconcile(stacks, rig.root / "git-tenants", service_database=rig.service.settings.database_url)
    if not report.in_sync:
        in_sync.broken += [f"{f.cls}: {f.subject} ({f.detail})" for f in report.findings] + report.errors
    return [declared, one_each, orphans, jobs, errors, in_sync]


def _tenant(
    rig: Rig,
    tenant: SoakTenant,
    plans: dict[str, int],
    declared: Invariant,
    one_each: Invariant,
    orphans: Invariant,
) -> None:
    seen = footprint(rig.cloud, tenant.slug, tenant.org)
    record = rig.service.tenant(tenant.slug)
    counts = (*seen.counts(), seen.ssh_keys)
    if tenant.decommissioned:
        if record.get("phase") != "decommissioned":
            declared.broken.append(f"{tenant.slug}: cancelled, but phase {record.get('phase')}")
        if any(counts) or seen.stack or allocated_vmids(rig.cloud, tenant.slug):
            orphans.broken.append(
                f"{tenant.slug}: decommissioned, still holds VMs/DNS/servers/keys {counts}, "
                f"stack {seen.stack}, allocations {sorted(allocated_vmids(rig.cloud, tenant.slug))}"
            )
        return
    declaration: dict[str, Any] = yaml.safe_load(rig.service.queue.get_tenant(tenant.slug).declaration)
    state = declaration.get("state", "active")
    if (declaration.get("plan"), state, record.get("phase")) != (tenant.plan, tenant.expected_state, "ready"):
        declared.broken.append(
            f"{tenant.slug}: declared {declaration.get('plan')}/{state}, phase {record.get('phase')}; "
            f"billing says {tenant.plan}/{tenant.expected_state}, ready"
        )
    servers = int(declaration.get("servers", 1))
    if counts != (servers,) * 4:
        one_each.broken.append(f"{tenant.slug}: VMs/DNS/servers/keys {counts}, declared {servers} server(s)")
    if {vm.vmid for vm in seen.vms} != allocated_vmids(rig.cloud, tenant.slug):
        orphans.broken.append(
            f"{tenant.slug}: allocations {sorted(allocated_vmids(rig.cloud, tenant.slug))} "
            f"!= VMs {[vm.vmid for vm in seen.vms]}"
        )
    power = "stopped" if state == "suspended" else "running"
    for vm in seen.vms:
        if vm.status != power or vm.lock or vm.memory_mb != plans[str(declaration.get("plan"))]:
            declared.broken.append(
                f"{tenant.slug}: VM {vm.vmid} {vm.status}, lock {vm.lock}, {vm.memory_mb} MiB; "
                f"declared {power}, {plans[str(declaration.get('plan'))]} MiB"
            )
    if state == "active" and not all(s["installed"] for s in seen.servers):
        declared.broken.append(f"{tenant.slug}: a Dokploy server whose setup never installed")


def _jobs(rig: Rig, tenants: list[SoakTenant], job_ids: list[str], jobs: Invariant, errors: Invariant) -> None:
    queue = rig.service.queue
    for job_id in job_ids:
        job = queue.get_job(job_id)
        if job.state not in ("succeeded", "failed", "cancelled"):
            jobs.broken.append(f"job {job_id} ({job.kind} of {job.slug}) still {job.state}")
    for tenant in tenants:
        history = queue.list_jobs(slug=tenant.slug, limit=1000)
        signups = [j for j in history if j.kind == "signup"]
        if len(signups) != 1:
            jobs.broken.append(f"{tenant.slug}: {len(signups)} signup jobs")
        for job in history:
            if job.state not in ("succeeded", "failed", "cancelled"):
                jobs.broken.append(f"job {job.id} ({job.kind} of {tenant.slug}) still {job.state}")
            if job.state == "failed" and len((job.error or "").strip()) < CLEAR_ERROR_MIN_CHARS:
                errors.broken.append(f"job {job.id} ({job.kind} of {tenant.slug}) failed with {job.error!r}")
