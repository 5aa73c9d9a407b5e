"""What the cloud holds for a tenant, read from the simulators, PowerDNS (over DNS) and the state backend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.resolver

from components.naming import VM_TYPE
from ipam.store import open_store
from tests.service_e2e.harness import EngineCloud


@dataclass(frozen=True)
class VmView:
    """One simulated VM as a test sees it."""

    vmid: int
    node: str
    status: str
    lock: str | None
    agent_ready: bool
    cores: int
    memory_mb: int
    disk: str


@dataclass(frozen=True)
class Footprint:
    """Everything one tenant has in the cloud."""

    vms: list[VmView]
    addresses: list[str]
    """What the tenant's hostname resolves to at PowerDNS."""
    servers: list[dict[str, Any]]
    """Dokploy servers of the organization: id, ip, ``installed`` (setup proven by the simulator)."""
    ssh_keys: int
    stack: bool
    """Whether ``local.<slug>`` exists in the state backend."""

    def counts(self) -> tuple[int, int, int]:
        """(VMs, DNS addresses, Dokploy servers)."""
        return len(self.vms), len(self.addresses), len(self.servers)


def allocated_vmids(cloud: EngineCloud, slug: str | None = None) -> set[int]:
    """VM ids in the allocation store (of ``slug``, or of everyone)."""
    store = open_store(cloud.env["ALLOCATIONS_DB"])
    return {
        a.vmid
        for region in cloud.environment.regions
        for a in store.all(f"{cloud.environment.name}/{region}")
        if slug is None or a.owner.split("/", 1)[0] == slug
    }


def tenant_vms(cloud: EngineCloud, slug: str) -> list[VmView]:
    """Non-template VMs tagged for ``slug``, named for it or at an id allocated to it."""
    allocated = allocated_vmids(cloud, slug)
    found = []
    for backend in cloud.proxmox_backends():
        with backend.lock:
            backend.tick()
            for vm in backend.vms.values():
                tags = str(vm.config.get("tags", "")).replace(",", ";").split(";")
                if vm.is_template or not (
                    f"tenant-{slug}" in tags
                    or vm.vmid in allocated
                    or str(vm.config.get("name", "")).startswith(f"{slug}-")
                ):
                    continue
                found.append(
                    VmView(
                        vm.vmid,
                        vm.node,
                        vm.status,
                        vm.lock,
                        backend.agent_ready(vm),
                        int(vm.config.get("cores", 0)),
                        int(vm.config.get("memory", 0)),
                        str(vm.config.get("scsi0", "")),
                    )
                )
    return sorted(found, key=lambda v: v.vmid)


def resolve(cloud: EngineCloud, hostname: str) -> list[str]:
    """A records of ``hostname`` asked of PowerDNS over DNS."""
    assert cloud.cloud.pdns is not None
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], cloud.cloud.pdns.dns_port
    try:
        return sorted(r.address for r in resolver.resolve(hostname, "A", lifetime=5))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []


def dokploy_servers(cloud: EngineCloud, org: str) -> list[dict[str, Any]]:
    """The organization's Dokploy servers, and whether setup really installed Dokploy on their guest."""
    backend = cloud.dokploy
    with backend.lock:
        rows = [s for s in backend.servers.values() if s.organization_id == org]
        out = []
        for server in rows:
            guest = backend.world.find_by_address(server.ip_address)
            installed = guest is not None and (guest["node"], guest["vmid"]) in backend.installed
            out.append({"server_id": server.server_id, "ip": server.ip_address, "installed": installed})
        return out


def footprint(cloud: EngineCloud, slug: str, org: str) -> Footprint:
    """What ``slug`` (organization ``org``) holds in every service."""
    keys = [k for k in cloud.dokploy.ssh_keys.values() if k.organization_id == org]
    return Footprint(
        tenant_vms(cloud, slug),
        resolve(cloud, f"{slug}.{cloud.environment.zone}"),
        dokploy_servers(cloud, org),
        len(keys),
        bool(stack_files(cloud, slug)),
    )


def stack_files(cloud: EngineCloud, slug: str = "*") -> list[Path]:
    """The file backend's checkpoint files of tenant stacks."""
    return sorted((cloud.backend_dir / ".pulumi" / "stacks").glob(f"*/local.{slug}.json"))


def state_vmids(cloud: EngineCloud) -> set[int]:
    """VM ids every tenant stack's checkpoint holds."""
    ids: set[int] = set()
    for path in stack_files(cloud):
        latest = (json.loads(path.read_text()).get("checkpoint") or {}).get("latest") or {}
        ids |= {
            int(r["id"])
            for r in latest.get("resources") or []
            if r.get("type") == VM_TYPE and str(r.get("id", "")).isdigit()
        }
    return ids


def platform_vmids(cloud: EngineCloud) -> set[int]:
    """VM ids allocated to the platform itself (owners ``~...``: the warm pool's VMs)."""
    store = open_store(cloud.env["ALLOCATIONS_DB"])
    return {
        a.vmid
        for region in cloud.environment.regions
        for a in store.all(f"{cloud.environment.name}/{region}")
        if a.owner.startswith("~")
    }


def unowned_vms(cloud: EngineCloud) -> list[int]:
    """VMs in the simulators that no stack's state holds (nor the warm pool), or whose id nobody was allocated."""
    owned, allocated = state_vmids(cloud) | platform_vmids(cloud), allocated_vmids(cloud)
    present = {vm.vmid for b in cloud.proxmox_backends() for vm in b.vms.values() if not vm.is_template}
    return sorted(v for v in present if v not in owned or v not in allocated)
