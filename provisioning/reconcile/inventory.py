"""Read the four inventories (tenant stacks, Proxmox, Dokploy, DNS) and the declarations, read-only.

Proxmox is read with the read-only monitoring token when ``PROXMOX_VE_MONITOR_TOKEN`` is set (it sees VMs in
our id range outside the tenant pools too), else with the provisioning token (only the pools' VMs). Every
read is bounded (the clients' timeouts and retries); one that fails is recorded in
``Inventory.errors`` and the rest goes on, so a cluster that is down makes the report incomplete, not wrong.
Dokploy is read once per organisation (``server.all`` and ``sshKey.all`` with a per-run key minted for that
organisation and revoked at once, recorded in the key ledger like any run's). Nothing here writes to
Proxmox, Dokploy or DNS; the only write is that short-lived key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from concurrent import futures
from pathlib import Path
from typing import Any

from clients.proxmox import cluster_vms
from components.environment import PROJECT, Environment
from components.naming import (
    DNS_RECORD_TYPE,
    DOKPLOY_SERVER_TYPE,
    VM_TYPE,
    split_stack_name,
)
from components.spec import SpecErrors, TenantSpec
from ipam.store import open_store
from provisioning import fleet_clients
from provisioning.allocations import ORPHAN, BackendStackStates, env_allocations, judge
from provisioning.declarations import TenantFiles, stored_tenant
from provisioning.reconcile.model import (
    ApiKeyRow,
    DeclaredTenant,
    DnsRow,
    DokployKeyRow,
    DokployServerRow,
    Inventory,
    ProxmoxVm,
    RegionRange,
    StackDns,
    StackDokploy,
    StackView,
    StackVm,
)
from provisioning.stacks import TenantStacks
from provisioning.state_backend import lock_records, readable_locks
from provisioning.warm_pool import is_warm_owner
from storage.tenants import declared_tenants

PARALLEL_READS = 4
_SERVER_PART = re.compile(r"^(?P<slug>.+)-s(?P<index>\d+)-(?P<part>vm|dokploy)$")


def read_inventory(
    stacks: TenantStacks,
    tenants_dir: Path,
    *,
    service_database: str | None = None,
) -> Inventory:
    """Everything reconciliation compares, for ``stacks``' environment (see the module docstring)."""
    env = stacks.environment
    inventory = Inventory(
        env=env.name,
        zone=env.zone,
        regions=[
            RegionRange(r.name, r.vmid_start, r.vmid_end, r.pool, r.network, r.reserved) for r in env.regions.values()
        ],
    )
    _declared(inventory, stacks, tenants_dir, service_database)
    _stacks(inventory, stacks)
    with futures.ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        jobs = [pool.submit(_proxmox, inventory, stacks, name) for name in env.regions]
        orgs = sorted(
            {d.organization for d in inventory.declared.values()}
            | {d.organization for s in inventory.stacks.values() for d in s.dokploy}
        )
        jobs.append(pool.submit(_dokploy, inventory, stacks, orgs))
        jobs.append(pool.submit(_dns, inventory, stacks))
        jobs.append(pool.submit(_allocations, inventory, stacks))
        for job in jobs:
            job.result()
    inventory.errors.sort()
    return inventory


def _failed(inventory: Inventory, what: str, exc: BaseException) -> None:
    inventory.errors.append(f"{what}: {type(exc).__name__}: {exc}")


def load_declarations(
    environment: Environment, tenants_dir: Path, service_database: str | None
) -> tuple[dict[str, tuple[TenantSpec, str]], list[str]]:
    """Every declared tenant (git files, then the service's not decommissioned) with its source, and what
    could not be read."""
    found: dict[str, tuple[TenantSpec, str]] = {}
    errors: list[str] = []
    try:
        for spec in TenantFiles(tenants_dir, environment).load_all().values():
            found[spec.slug] = (spec, "git")
    except SpecErrors as exc:
        errors.append(f"tenant files in {tenants_dir}: {exc}")
    if not service_database:
        return found, errors
    try:
        rows = declared_tenants(service_database)
    except Exception as exc:  # unreachable or unreadable: report, never guess which stacks are undeclared
        errors.append(f"the service's tenants (SERVICE_DATABASE_URL): {type(exc).__name__}: {exc}")
        return found, errors
    for row in rows:
        if row.phase == "decommissioned" or row.slug in found:
            continue
        try:
            found[row.slug] = (stored_tenant(row.slug, row.declaration, environment), "service")
        except SpecErrors as exc:
            errors.append(f"the service's declaration of {row.slug}: {exc}")
    return found, errors


def _declared(inventory: Inventory, stacks: TenantStacks, tenants_dir: Path, service_database: str | None) -> None:
    found, errors = load_declarations(stacks.environment, tenants_dir, service_database)
    inventory.errors += errors
    inventory.service_tenants_read = bool(service_database) and not any("SERVICE_DATABASE_URL" in e for e in errors)
    for slug, (spec, source) in found.items():
        inventory.declared[slug] = _declared_tenant(stacks, spec, source)


def _declared_tenant(stacks: TenantStacks, spec: TenantSpec, source: str) -> DeclaredTenant:
    plan = stacks.environment.plans[spec.plan]
    return DeclaredTenant(
        spec.slug,
        spec.plan,
        spec.region,
        spec.servers,
        spec.dokploy_organization,
        bool(spec.suspended),
        source,
        plan.cores,
        plan.memory_mb,
    )


def _stacks(inventory: Inventory, stacks: TenantStacks) -> None:
    try:
        workspace = stacks.workspace()
        names = sorted(
            n for n in BackendStackStates(workspace).names() if split_stack_name(n)[0] == stacks.env_name and "." in n
        )
    except Exception as exc:
        _failed(inventory, "the state backend's stacks", exc)
        return
    can_read_locks = readable_locks()

    def one(name: str) -> tuple[str, StackView | None]:
        slug = split_stack_name(name)[1] or ""
        try:
            deployment = workspace.export_stack(name).deployment or {}
        except Exception as exc:
            _failed(inventory, f"stack {name}", exc)
            return slug, None
        locked = bool(lock_records(PROJECT, name)) if can_read_locks else None
        return slug, stack_view(slug, deployment, locked)

    with futures.ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
        for slug, view in pool.map(one, names):
            if view is not None:
                inventory.stacks[slug] = view


def stack_view(slug: str, deployment: Mapping[str, Any], locked: bool | None) -> StackView:
    """What an exported deployment records: VMs, DNS records and Dokploy servers (pending operations make
    the stack busy: a run died mid-way and recovery, not reconciliation, clears it)."""
    view = StackView(slug, locked or bool(deployment.get("pending_operations")) if locked is not None else None)
    resources = deployment.get("resources") or []
    for resource in resources:
        outputs = resource.get("outputs") or {}
        name = str(resource.get("urn", "")).rsplit("::", 1)[-1]
        part = _SERVER_PART.match(name)
        index = int(part["index"]) if part and part["slug"] == slug else -1
        kind = resource.get("type")
        if kind == VM_TYPE and str(resource.get("id", "")).isdigit():
            view.vms.append(
                StackVm(
                    index,
                    int(resource["id"]),
                    str(outputs.get("nodeName") or ""),
                    outputs.get("started") if isinstance(outputs.get("started"), bool) else None,
                    _int((outputs.get("cpu") or {}).get("cores")),
                    _int((outputs.get("memory") or {}).get("dedicated")),
                )
            )
        elif kind == DNS_RECORD_TYPE and outputs.get("fqdn"):
            view.dns.append(
                StackDns(str(outputs["fqdn"]), str(outputs.get("type", "A")), tuple(outputs.get("content") or ()))
            )
        elif kind == DOKPLOY_SERVER_TYPE and outputs.get("server_id"):
            view.dokploy.append(
                StackDokploy(
                    index,
                    str(outputs["server_id"]),
                    outputs.get("ssh_key_id"),
                    str(outputs.get("organization_id") or ""),
                )
            )
    return view


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _proxmox(inventory: Inventory, stacks: TenantStacks, region_name: str) -> None:
    region = stacks.environment.regions[region_name]
    try:
        rows = cluster_vms(fleet_clients.proxmox(stacks, region_name, read_only=True))
    except Exception as exc:
        _failed(inventory, f"Proxmox {region_name} ({region.endpoint})", exc)
        return
    for row in rows:
        inventory.vms.append(
            ProxmoxVm(
                region=region_name,
                vmid=int(row["vmid"]),
                node=str(row.get("node", "")),
                name=str(row.get("name", "")),
                status=str(row.get("status", "")),
                tags=frozenset(t for t in re.split(r"[;, ]+", str(row.get("tags") or "")) if t),
                pool=row.get("pool"),
                lock=row.get("lock") or None,
                cores=int(row.get("maxcpu") or 0),
                memory_mb=int(row.get("maxmem") or 0) // (1024 * 1024),
                template=bool(row.get("template")),
            )
        )
    inventory.regions_read.add(region_name)


def _dokploy(inventory: Inventory, stacks: TenantStacks, organizations: list[str]) -> None:
    try:
        platform = stacks.dokploy_platform()
        inventory.api_keys = [ApiKeyRow(str(k.get("id")), str(k.get("name") or "")) for k in platform.api_keys()]
    except Exception as exc:
        _failed(inventory, "Dokploy's API keys of the platform user", exc)
        return
    for org in organizations:
        try:
            with fleet_clients.organization_client(stacks, org) as client:
                servers, keys = client.server_all(), client.ssh_key_all()
        except Exception as exc:
            _failed(inventory, f"Dokploy organization {org}", exc)
            continue
        inventory.dokploy_servers += [
            DokployServerRow(
                org,
                str(s["serverId"]),
                str(s.get("name") or ""),
                str(s.get("description") or ""),
                str(s.get("ipAddress") or ""),
                str(s.get("serverStatus") or ""),
                s.get("sshKeyId"),
            )
            for s in servers
        ]
        inventory.dokploy_keys += [
            DokployKeyRow(org, str(k["sshKeyId"]), str(k.get("name") or ""), str(k.get("description") or ""))
            for k in keys
        ]
        inventory.organizations_read.add(org)


def _dns(inventory: Inventory, stacks: TenantStacks) -> None:
    env = stacks.environment
    try:
        rows = fleet_clients.powerdns(stacks).zone_rrsets(fleet_clients.zone_name(stacks))
    except Exception as exc:
        _failed(inventory, f"DNS zone {env.zone} ({env.dns_api_url})", exc)
        return
    inventory.dns = [DnsRow(r.name, r.type, r.contents) for r in rows]


def _allocations(inventory: Inventory, stacks: TenantStacks) -> None:
    try:
        store = open_store(stacks.allocations_location())
        held = env_allocations(store, stacks.env_name)
        judged = judge(stacks.env_name, held, BackendStackStates(stacks.workspace()))
    except Exception as exc:
        _failed(inventory, "the allocations (ALLOCATIONS_DB)", exc)
        return
    inventory.warm_vms = {(a.pool.split("/", 1)[1], a.vmid) for a in held if is_warm_owner(a.owner)}
    inventory.orphan_allocations = [
        {
            "pool": j.allocation.pool,
            "owner": j.allocation.owner,
            "vmid": j.allocation.vmid,
            "address": j.allocation.address,
            "node": j.allocation.node,
            "reason": j.reason,
        }
        for j in judged
        if j.verdict == ORPHAN
    ]
