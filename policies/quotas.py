"""Quota and placement rules for tenant stacks, as pure functions.

The CrossGuard pack (``policies/__main__.py``) wraps each rule as one policy; the provisioning
service calls the same functions through :func:`policies.request.check_request` before queueing,
so a request over quota is refused with the very message the pack would print. Every rule checks
only known values: ``None`` in a view means unknown during preview and is skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.spec.plans import Plan
from policies.views import (
    BACKUP_JOB_TYPE,
    FIREWALL_OPTIONS_TYPE,
    GUEST_TYPES,
    MANAGED_TAG,
    StackResource,
    VmView,
    as_int,
    dig,
    guest_view,
    known,
)

VM_WITHIN_PLAN = "vm-within-plan-limits"
TENANT_SERVER_QUOTA = "tenant-server-quota"
VM_TEMPLATE_ALLOWED = "vm-template-allowed"
VM_TENANT_TAGS = "vm-tenant-tags"
VM_TENANT_POOL = "vm-tenant-pool"
VM_FIREWALL = "vm-firewall-drop-inbound"
DNS_IN_ZONE = "dns-hostname-in-zone"
VM_WHOLE_GIB = "vm-memory-whole-gib"
VM_DISK_MIN = "vm-disk-not-below-template"
VM_BELOW_PLAN = "vm-below-plan"
TENANT_BACKUPS = "tenant-backups-per-plan"


@dataclass(frozen=True)
class Violation:
    """One broken rule: the policy's name, a message naming the field, and the resource if any."""

    policy: str
    message: str
    urn: str | None = None


def vm_within_plan(vm: VmView, plans: Mapping[str, Plan], urn: str | None = None) -> list[Violation]:
    """A VM may not get more cores, memory or disk than its plan (from its ``plan-<name>`` tag)."""
    if vm.plan is None:
        return []  # a missing plan tag is vm-tenant-tags' finding
    plan = plans.get(vm.plan)
    if plan is None:
        return [
            Violation(
                VM_WITHIN_PLAN,
                f"VM {vm.name}: tag plan-{vm.plan} names an unknown plan (known: {', '.join(sorted(plans)) or 'none'})",
                urn,
            )
        ]
    out = []
    for field, value, limit, unit in (
        ("cpu.cores", vm.cores, plan.cores, ""),
        ("memory.dedicated", vm.memory_mb, plan.memory_mb, " MB"),
        ("disks[0].size", vm.disk_gb, plan.disk_gb, " GB"),
    ):
        if value is not None and value > limit:
            out.append(
                Violation(
                    VM_WITHIN_PLAN,
                    f"VM {vm.name}: {field} = {value}{unit} exceeds plan '{vm.plan}' limit of {limit}{unit}",
                    urn,
                )
            )
    return out


def server_quota(
    tenant: str, plan_name: str, count: int, plans: Mapping[str, Plan], urn: str | None = None
) -> list[Violation]:
    """A tenant may not have more servers than its plan's ``max_servers``."""
    plan = plans.get(plan_name)
    if plan is None:
        return [
            Violation(
                TENANT_SERVER_QUOTA,
                f"tenant {tenant}: plan '{plan_name}' is unknown (known: {', '.join(sorted(plans)) or 'none'})",
                urn,
            )
        ]
    if count > plan.max_servers:
        return [
            Violation(
                TENANT_SERVER_QUOTA,
                f"tenant {tenant}: {count} servers exceed plan '{plan_name}' limit of {plan.max_servers} (max_servers)",
                urn,
            )
        ]
    return []


def template_allowed(vm: VmView, allowed: Iterable[int], urn: str | None = None) -> list[Violation]:
    """A VM must be cloned from one of the allowed templates (``clone.vmId``)."""
    allowed_set = set(allowed)
    if vm.template is None or vm.template in allowed_set:
        return []
    return [
        Violation(
            VM_TEMPLATE_ALLOWED,
            f"VM {vm.name}: clone.vmId = {vm.template} is not an allowed template (allowed: {sorted(allowed_set)})",
            urn,
        )
    ]


def tenant_tags(vm: VmView, urn: str | None = None) -> list[Violation]:
    """A tenant VM carries ``dokploy-cloud``, exactly one ``tenant-<slug>`` and one ``plan-<name>`` tag."""
    if vm.tags is None:
        return []
    missing = [
        label
        for label, ok in ((MANAGED_TAG, MANAGED_TAG in vm.tags), ("tenant-<slug>", vm.tenant), ("plan-<name>", vm.plan))
        if not ok
    ]
    if not missing:
        return []
    return [
        Violation(
            VM_TENANT_TAGS,
            f"VM {vm.name}: tags must include exactly one of each of {', '.join(missing)} (has {list(vm.tags)})",
            urn,
        )
    ]


def tenant_pool(vm: VmView, pools: Iterable[str], urn: str | None = None) -> list[Violation]:
    """A tenant VM lives in one of the environment's provisioning pools (``regions.<r>.pool``).

    Only there does the provisioning token hold its VM privileges; its ``tenant-<slug>`` tag says whose it is."""
    allowed = sorted(set(pools))
    if vm.pool_id is None and vm.tags is None:
        return []
    if vm.pool_id is None:
        return [
            Violation(
                VM_TENANT_POOL,
                f"VM {vm.name}: pool_id is not set; tenant VMs belong to the region's "
                f"provisioning pool ({', '.join(allowed)})",
                urn,
            )
        ]
    if vm.pool_id not in allowed:
        return [
            Violation(
                VM_TENANT_POOL,
                f"VM {vm.name}: pool_id '{vm.pool_id}' is not a provisioning pool "
                f"of this environment (allowed: {allowed})",
                urn,
            )
        ]
    return []


def hostname_in_zone(
    name: Any, record_zone: Any, zone: str, urn: str | None = None, resource: str = "DNS record"
) -> list[Violation]:
    """A DNS record's zone is the environment's zone and its FQDN lies inside it."""
    want = zone.rstrip(".").lower()
    out = []
    if isinstance(record_zone, str) and record_zone.rstrip(".").lower() != want:
        out.append(
            Violation(DNS_IN_ZONE, f"{resource}: zone '{record_zone}' is not the environment's zone '{want}'", urn)
        )
    if isinstance(name, str) and name.endswith("."):
        fqdn = name.rstrip(".").lower()
        if fqdn != want and not fqdn.endswith("." + want):
            out.append(Violation(DNS_IN_ZONE, f"{resource}: name '{name}' is outside the zone '{want}'", urn))
    return out


def memory_whole_gib(vm: VmView, urn: str | None = None) -> list[Violation]:
    """Advisory: memory.dedicated should be a multiple of 1024 MB."""
    if vm.memory_mb is None or vm.memory_mb % 1024 == 0:
        return []
    return [
        Violation(VM_WHOLE_GIB, f"VM {vm.name}: memory.dedicated = {vm.memory_mb} MB is not a multiple of 1024", urn)
    ]


def disk_not_below(vm: VmView, min_disk_gb: int, urn: str | None = None) -> list[Violation]:
    """Advisory: Proxmox cannot shrink a cloned disk, so disks[0].size must be at least the template's."""
    if vm.disk_gb is None or vm.disk_gb >= min_disk_gb:
        return []
    return [
        Violation(
            VM_DISK_MIN,
            f"VM {vm.name}: disks[0].size = {vm.disk_gb} GB is below the template's "
            f"{min_disk_gb} GB; a cloned disk cannot shrink",
            urn,
        )
    ]


def below_plan(vm: VmView, plans: Mapping[str, Plan], urn: str | None = None) -> list[Violation]:
    """Advisory: a VM smaller than its plan gives the tenant less than they pay for."""
    plan = plans.get(vm.plan) if vm.plan else None
    if plan is None:
        return []
    short = [
        f"{f} = {v} < {lim}"
        for f, v, lim in (
            ("cpu.cores", vm.cores, plan.cores),
            ("memory.dedicated", vm.memory_mb, plan.memory_mb),
            ("disks[0].size", vm.disk_gb, plan.disk_gb),
        )
        if v is not None and v < lim
    ]
    return (
        [Violation(VM_BELOW_PLAN, f"VM {vm.name}: smaller than plan '{vm.plan}' ({'; '.join(short)})", urn)]
        if short
        else []
    )


def stack_server_quota(resources: Sequence[StackResource], plans: Mapping[str, Plan]) -> list[Violation]:
    """Count tenant VMs per parent component and compare with the plan named by their tags."""
    groups: dict[str | None, list[VmView]] = defaultdict(list)
    for res in resources:
        if res.type in GUEST_TYPES:
            groups[res.parent].append(guest_view(res.type, res.name, res.props))
    out = []
    for parent, vms in groups.items():
        plan_names = sorted({vm.plan for vm in vms if vm.plan})
        tenant = next((vm.tenant for vm in vms if vm.tenant), None) or (parent or "(no parent)")
        for plan_name in plan_names:  # mixed plans are also checked against each one named
            out += server_quota(tenant, plan_name, len(vms), plans, parent)
    return out


def stack_firewalls(resources: Sequence[StackResource]) -> list[Violation]:
    """Every tenant VM has an enabled firewall OptionsLegacy for its vm with input_policy DROP."""
    firewalls = [r for r in resources if r.type == FIREWALL_OPTIONS_TYPE]
    out = []
    for vm in (r for r in resources if r.type in GUEST_TYPES):
        vm_id = as_int(dig(vm.props, "vmId"))
        mine = [
            f
            for f in firewalls
            if vm.urn in f.dependencies or (vm_id is not None and as_int(dig(f.props, "vmId")) == vm_id)
        ]
        if not mine:
            out.append(
                Violation(
                    VM_FIREWALL,
                    f"VM {vm.name}: no firewall OptionsLegacy for this vm (expected one with input_policy DROP)",
                    vm.urn,
                )
            )
            continue
        for fw in mine:
            policy, enabled = dig(fw.props, "inputPolicy"), dig(fw.props, "enabled")
            if policy is not None and policy != "DROP":
                out.append(
                    Violation(
                        VM_FIREWALL,
                        f"VM {vm.name}: firewall {fw.name} input_policy = '{policy}', expected 'DROP'",
                        fw.urn,
                    )
                )
            if enabled is False:
                out.append(Violation(VM_FIREWALL, f"VM {vm.name}: firewall {fw.name} enabled = false", fw.urn))
    return out


def dns_record(props: Mapping[str, Any], zone: str, urn: str | None = None, name: str = "") -> list[Violation]:
    """:func:`hostname_in_zone` over a DNS record's inputs."""
    return hostname_in_zone(dig(props, "name"), dig(props, "zone"), zone, urn, f"DNS record {name}".strip())


def stack_backups(resources: Sequence[StackResource], plans: Mapping[str, Plan]) -> list[Violation]:
    """A tenant whose plan promises backups has a backup job of that plan's schedule, storage and retention
    covering each of its servers; a tenant whose plan has none has no job. Unknown values are skipped."""
    vms: dict[str | None, list[StackResource]] = defaultdict(list)
    jobs: dict[str | None, list[StackResource]] = defaultdict(list)
    for res in resources:
        if res.type in GUEST_TYPES:
            vms[res.parent].append(res)
        elif res.type == BACKUP_JOB_TYPE:
            jobs[res.parent].append(res)
    out = []
    for parent, members in vms.items():
        views = [guest_view(v.type, v.name, v.props) for v in members]
        tenant = next((v.tenant for v in views if v.tenant), None) or (parent or "(no parent)")
        plan = plans.get(next((v.plan for v in views if v.plan), "") or "")
        if plan is None:
            continue  # an unknown plan tag is vm-within-plan-limits' to report
        mine = jobs.get(parent, [])
        if plan.backups is None:
            out += [
                Violation(
                    TENANT_BACKUPS,
                    f"tenant {tenant}: plan '{plan.name}' has no backups, but job {j.name} exists",
                    j.urn,
                )
                for j in mine
            ]
            continue
        if len(mine) != 1:
            out.append(
                Violation(
                    TENANT_BACKUPS,
                    f"tenant {tenant}: plan '{plan.name}' promises backups; expected one backup job, found {len(mine)}",
                    parent,
                )
            )
            continue
        out += _job_matches(tenant, plan, mine[0], [as_int(dig(v.props, "vmId")) for v in members])
    return out


def _job_matches(tenant: str, plan: Plan, job: StackResource, vmids: list[int | None]) -> list[Violation]:
    policy = plan.backups
    assert policy is not None
    out = []
    expected = {
        "schedule": policy.schedule,
        "storage": policy.storage,
        "mode": policy.mode,
        "pruneBackups": policy.prune_backups,
    }
    for key, want in expected.items():
        got = dig(job.props, key)
        if got is not None and got != want:
            out.append(
                Violation(
                    TENANT_BACKUPS,
                    f"tenant {tenant}: backup job {key} = {got!r}, plan '{plan.name}' says {want!r}",
                    job.urn,
                )
            )
    listed = dig(job.props, "vmids")
    if isinstance(listed, list) and all(known(v) is not None for v in listed):
        covered = {as_int(v) for v in listed}
        missing = sorted(v for v in vmids if v is not None and v not in covered)
        if missing:
            out.append(
                Violation(TENANT_BACKUPS, f"tenant {tenant}: backup job does not cover VM(s) {missing}", job.urn)
            )
    return out
