"""Judge an :class:`~provisioning.reconcile.model.Inventory`: every difference becomes a finding of one class.

Pure (no I/O), so every rule is tested on hand-made inventories. A tenant whose stack an update holds is
judged on the next run: what differs is that update's work in progress. Flag, don't guess: a finding is made only
from inventories that were read (an unreadable cluster, organisation or zone makes none about what it
holds), and ``fixable`` is set only when the proof the fix needs is there — our tags and pool on a VM,
our marker on a Dokploy row, a tenant-network address on a DNS record, no update running on the tenant.
"""

from __future__ import annotations

import time
from collections import defaultdict

from components.naming import MANAGED_TAG, TENANT_TAG_PREFIX, WARM_TAG, find_server_marker
from provisioning.dokploy_keys import RUN_KEY_MAX_AGE, env_tag, parse_key_name
from provisioning.reconcile.model import (
    DANGLING_DNS,
    DRIFT,
    INACTIVE_DOKPLOY_SERVER,
    LEAKED_API_KEY,
    ORPHAN_ALLOCATION,
    ORPHAN_DOKPLOY_SERVER,
    ORPHAN_SSH_KEY,
    ORPHAN_VM,
    STACK_WITHOUT_TENANT,
    TENANT_WITHOUT_STACK,
    Finding,
    Inventory,
    ProxmoxVm,
    RegionRange,
    Report,
    StackView,
)

BUSY = "update running"
IN_SYNC = "in sync"


def classify(inventory: Inventory, *, now: float | None = None, key_max_age: float = RUN_KEY_MAX_AGE) -> Report:
    """The report on ``inventory``: findings sorted by class and subject, and a verdict per tenant."""
    now = time.time() if now is None else now
    findings: list[Finding] = []
    findings += _stack_findings(inventory)
    findings += _orphan_vms(inventory)
    findings += _orphan_dokploy(inventory)
    findings += _dangling_dns(inventory)
    findings += _leaked_keys(inventory, now, key_max_age)
    findings += [
        Finding(
            ORPHAN_ALLOCATION,
            f"allocation {row['pool']} {row['owner']} (VM id {row['vmid']}, {row['address']})",
            row["reason"],
            tenant=row["owner"].split("/", 1)[0],
            target=row,
        )
        for row in inventory.orphan_allocations or []
    ]
    findings.sort(key=lambda f: (f.cls, f.tenant or "", f.subject))
    return Report(
        env=inventory.env,
        generated_at=now,
        findings=findings,
        tenants=_verdicts(inventory, findings),
        counts={
            "stacks": len(inventory.stacks),
            "declared": len(inventory.declared),
            "vms": len(inventory.vms),
            "dokploy_servers": len(inventory.dokploy_servers),
            "dokploy_ssh_keys": len(inventory.dokploy_keys),
            "dns_records": len(inventory.dns or []),
            "api_keys": len(inventory.api_keys or []),
        },
        errors=list(inventory.errors),
    )


def region_of(regions: list[RegionRange], vmid: int) -> RegionRange | None:
    """The region whose VM id range holds ``vmid``."""
    return next((r for r in regions if r.holds(vmid)), None)


def _verdicts(inventory: Inventory, findings: list[Finding]) -> dict[str, str]:
    classes: dict[str, list[str]] = defaultdict(list)
    for finding in findings:
        if finding.tenant and finding.cls not in classes[finding.tenant]:
            classes[finding.tenant].append(finding.cls)
    verdicts = {}
    for slug in sorted(set(inventory.stacks) | set(inventory.declared)):
        stack = inventory.stacks.get(slug)
        if classes.get(slug):
            verdicts[slug] = ", ".join(classes[slug])
        elif stack is not None and stack.locked:
            verdicts[slug] = BUSY
        else:
            verdicts[slug] = IN_SYNC
    return verdicts


def _stack_findings(inventory: Inventory) -> list[Finding]:
    out: list[Finding] = []
    vms = {(vm.region, vm.vmid): vm for vm in inventory.vms}
    servers = {row.server_id: row for row in inventory.dokploy_servers}
    dns = {(row.fqdn.lower(), row.type): row for row in inventory.dns or []}
    for slug, stack in sorted(inventory.stacks.items()):
        declared = inventory.declared.get(slug)
        if declared is None:
            out.append(
                Finding(
                    STACK_WITHOUT_TENANT,
                    f"stack {inventory.env}.{slug}",
                    f"records {len(stack.vms)} VM(s) but no tenant file or service tenant declares {slug}; "
                    "restore its declaration, or decommission it with `cloudctl destroy` from one"
                    + (
                        ""
                        if inventory.service_tenants_read
                        else " (the service's tenants were not read: set SERVICE_DATABASE_URL and SERVICE_ENV)"
                    ),
                    tenant=slug,
                    fixable=False,
                )
            )
        if stack.locked:
            continue  # an update is changing it right now: what differs is its work in progress
        out += _vm_drift(inventory, stack, vms)
        for record in stack.dns:
            if inventory.dns is None:
                break
            row = dns.get((record.fqdn.lower(), record.type))
            if row is None:
                out.append(_drift(slug, f"DNS {record.type} {record.fqdn}", "record missing from the zone"))
            elif sorted(row.contents) != sorted(record.contents):
                out.append(
                    _drift(
                        slug,
                        f"DNS {record.type} {record.fqdn}",
                        f"points to {', '.join(row.contents)}; the stack has {', '.join(record.contents)}",
                    )
                )
        for registration in stack.dokploy:
            if registration.organization not in inventory.organizations_read:
                continue
            server = servers.get(registration.server_id)
            if server is None:
                out.append(
                    _drift(
                        slug,
                        f"Dokploy server {registration.server_id} (server {registration.index})",
                        f"missing from organization {registration.organization}",
                    )
                )
            elif server.status == "inactive":
                out.append(
                    Finding(
                        INACTIVE_DOKPLOY_SERVER,
                        f"Dokploy server {server.server_id} ({server.name})",
                        f"Dokploy marks it inactive in organization {server.organization}: the owner's server "
                        "quota is below its server count; check the tenant's Dokploy plan",
                        tenant=slug,
                        fixable=False,
                    )
                )
    for slug, declared in sorted(inventory.declared.items()):
        if slug not in inventory.stacks:
            out.append(
                Finding(
                    TENANT_WITHOUT_STACK,
                    f"tenant {slug}",
                    f"declared ({declared.source}, plan {declared.plan}, {declared.servers} server(s)) but never "
                    "applied",
                    tenant=slug,
                )
            )
    return out


def _vm_drift(inventory: Inventory, stack: StackView, vms: dict[tuple[str, int], ProxmoxVm]) -> list[Finding]:
    out = []
    for recorded in stack.vms:
        region = region_of(inventory.regions, recorded.vmid)
        if region is None or region.name not in inventory.regions_read:
            continue
        subject = f"VM {recorded.vmid} (server {recorded.index})"
        vm = vms.get((region.name, recorded.vmid))
        if vm is None:
            out.append(_drift(stack.slug, subject, f"missing from {region.name}"))
            continue
        if vm.lock:
            continue  # a backup, restore or migration holds it; judged on the next run
        problems = []
        running = vm.status == "running"
        if recorded.started is not None and running != recorded.started:
            problems.append(
                f"{vm.status}; the stack has it {'started' if recorded.started else 'stopped'}"
                + (" (tenant suspended)" if not recorded.started else "")
            )
        if recorded.cores is not None and vm.cores != recorded.cores:
            problems.append(f"{vm.cores} cores; the stack has {recorded.cores}")
        if recorded.memory_mb is not None and vm.memory_mb != recorded.memory_mb:
            problems.append(f"{vm.memory_mb} MiB memory; the stack has {recorded.memory_mb}")
        if recorded.node and vm.node != recorded.node:
            problems.append(f"on node {vm.node}; the stack has {recorded.node}")
        if problems:
            out.append(_drift(stack.slug, subject, "; ".join(problems)))
    return out


def _drift(slug: str, subject: str, detail: str) -> Finding:
    return Finding(DRIFT, subject, detail, tenant=slug, target={"slug": slug})


def _orphan_vms(inventory: Inventory) -> list[Finding]:
    recorded = {
        (r.name, vm.vmid)
        for s in inventory.stacks.values()
        for vm in s.vms
        if (r := region_of(inventory.regions, vm.vmid))
    }
    out = []
    for vm in inventory.vms:
        region = next((r for r in inventory.regions if r.name == vm.region), None)
        if vm.template or region is None or (vm.region, vm.vmid) in recorded:
            continue
        if (vm.region, vm.vmid) in inventory.warm_vms and WARM_TAG in vm.tags:
            continue  # the warm pool's, waiting for a tenant
        ours = MANAGED_TAG in vm.tags
        if not ours and not region.holds(vm.vmid):
            continue
        slugs = sorted(t[len(TENANT_TAG_PREFIX) :] for t in vm.tags if t.startswith(TENANT_TAG_PREFIX))
        slug = slugs[0] if len(slugs) == 1 else None
        gaps = []
        if not ours:
            gaps.append(f"no {MANAGED_TAG!r} tag")
        if slug is None:
            gaps.append("no single tenant-<slug> tag")
        if vm.pool != region.pool:
            gaps.append(f"pool is {vm.pool!r}, not {region.pool!r}")
        if not region.holds(vm.vmid):
            gaps.append(f"VM id outside {region.vmid_start}-{region.vmid_end}")
        if vm.lock:
            gaps.append(f"locked ({vm.lock})")
        stack = inventory.stacks.get(slug or "")
        if stack is not None and stack.locked:
            continue  # work in progress of a running update (or a dead run's, which recovery clears)
        if stack is not None and stack.locked is None:
            gaps.append("its stack's lock cannot be read")
        detail = f"{vm.status} on {vm.region}/{vm.node}, tags {','.join(sorted(vm.tags)) or '-'}; no stack records it"
        out.append(
            Finding(
                ORPHAN_VM,
                f"VM {vm.vmid} {vm.name}",
                detail + (f"; left alone: {'; '.join(gaps)}" if gaps else ""),
                tenant=slug,
                fixable=not gaps,
                target={"region": vm.region, "node": vm.node, "vmid": vm.vmid, "slug": slug, "name": vm.name},
            )
        )
    return out


def _orphan_dokploy(inventory: Inventory) -> list[Finding]:
    recorded_servers = {d.server_id for s in inventory.stacks.values() for d in s.dokploy}
    recorded_keys = {d.ssh_key_id for s in inventory.stacks.values() for d in s.dokploy if d.ssh_key_id}
    used_keys = {row.ssh_key_id for row in inventory.dokploy_servers if row.ssh_key_id}
    out = []
    for row in inventory.dokploy_servers:
        marker = find_server_marker(row.description)
        if marker is None or marker[0] != inventory.env or row.server_id in recorded_servers:
            continue
        if _busy(inventory, marker[1]):
            continue  # registered by a running update that has not recorded it yet
        out.append(
            Finding(
                ORPHAN_DOKPLOY_SERVER,
                f"Dokploy server {row.server_id} ({row.name}, {row.ip_address})",
                f"in organization {row.organization}, marked {marker[1]} server {marker[2]}; no stack records it"
                + ("; left alone: its stack's lock cannot be read" if _unsure(inventory, marker[1]) else ""),
                tenant=marker[1],
                fixable=not _unsure(inventory, marker[1]),
                target={"organization": row.organization, "server_id": row.server_id},
            )
        )
    for key in inventory.dokploy_keys:
        marker = find_server_marker(key.description)
        if marker is None or marker[0] != inventory.env:
            continue
        if key.ssh_key_id in recorded_keys or key.ssh_key_id in used_keys or _busy(inventory, marker[1]):
            continue
        out.append(
            Finding(
                ORPHAN_SSH_KEY,
                f"Dokploy SSH key {key.ssh_key_id} ({key.name})",
                f"in organization {key.organization}, marked {marker[1]} server {marker[2]}; no stack or server "
                "uses it" + ("; left alone: its stack's lock cannot be read" if _unsure(inventory, marker[1]) else ""),
                tenant=marker[1],
                fixable=not _unsure(inventory, marker[1]),
                target={"organization": key.organization, "ssh_key_id": key.ssh_key_id},
            )
        )
    return out


def _busy(inventory: Inventory, slug: str) -> bool:
    """An update holds the tenant's stack: what it has not recorded yet is not an orphan."""
    stack = inventory.stacks.get(slug)
    return stack is not None and stack.locked is True


def _unsure(inventory: Inventory, slug: str) -> bool:
    """The tenant's stack exists but its lock cannot be read: report, never fix."""
    stack = inventory.stacks.get(slug)
    return stack is not None and stack.locked is None


def _dangling_dns(inventory: Inventory) -> list[Finding]:
    if inventory.dns is None:
        return []
    recorded = {(d.fqdn.lower(), d.type) for s in inventory.stacks.values() for d in s.dns}
    out = []
    for row in inventory.dns:
        if (row.fqdn.lower(), row.type) in recorded:
            continue
        ours = row.type in ("A", "AAAA") and all(any(r.hands_out(c) for r in inventory.regions) for c in row.contents)
        out.append(
            Finding(
                DANGLING_DNS,
                f"DNS {row.type} {row.fqdn}",
                f"points to {', '.join(row.contents)}; no stack records it"
                + ("" if ours else "; left alone: it does not point into a tenant network"),
                tenant=_tenant_of_host(inventory, row.fqdn),
                fixable=ours,
                target={"fqdn": row.fqdn, "type": row.type},
            )
        )
    return out


def _tenant_of_host(inventory: Inventory, fqdn: str) -> str | None:
    label = fqdn.lower().removesuffix(".").removesuffix(f".{inventory.zone.lower().rstrip('.')}")
    for slug in sorted(set(inventory.stacks) | set(inventory.declared), key=len, reverse=True):
        if label == slug or label.startswith(f"{slug}-") or label.endswith(f".{slug}"):
            return slug
    return None


def _leaked_keys(inventory: Inventory, now: float, max_age: float) -> list[Finding]:
    out = []
    for key in inventory.api_keys or []:
        parsed = parse_key_name(key.name)
        if parsed is None or parsed[0] != env_tag(inventory.env) or parsed[1] >= now - max_age:
            continue
        out.append(
            Finding(
                LEAKED_API_KEY,
                f"Dokploy API key {key.name}",
                f"minted {int((now - parsed[1]) // 60)} min ago; runs end within {int(max_age // 60)} min",
                target={"key_id": key.key_id, "name": key.name},
            )
        )
    return out
