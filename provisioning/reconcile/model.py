"""What reconciliation compares (four inventories plus the declarations) and what it reports (findings).

Plain data, no I/O: :mod:`provisioning.reconcile.inventory` fills it in, :mod:`provisioning.reconcile.classify`
judges it, :mod:`provisioning.reconcile.fixes` acts on findings.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

# --- Finding classes (stable names: the CLI's --fix, the JSON report, metric labels, alert rules) -------

DRIFT = "drift"
ORPHAN_VM = "orphan-vm"
ORPHAN_DOKPLOY_SERVER = "orphan-dokploy-server"
ORPHAN_SSH_KEY = "orphan-ssh-key"
DANGLING_DNS = "dangling-dns"
STACK_WITHOUT_TENANT = "stack-without-tenant"
TENANT_WITHOUT_STACK = "tenant-without-stack"
INACTIVE_DOKPLOY_SERVER = "inactive-dokploy-server"
LEAKED_API_KEY = "leaked-api-key"
ORPHAN_ALLOCATION = "orphan-allocation"


@dataclass(frozen=True)
class FindingClass:
    """One kind of difference: what it means and what ``--fix`` does about it (None: report only)."""

    name: str
    meaning: str
    fix: str | None


CLASSES: dict[str, FindingClass] = {
    c.name: c
    for c in (
        FindingClass(
            DRIFT,
            "a tenant's recorded resource differs from reality: VM stopped or running against its declaration, "
            "size changed, VM, DNS record or Dokploy server missing, DNS record pointing elsewhere",
            "refresh the tenant's stack, then up (the declaration wins)",
        ),
        FindingClass(
            ORPHAN_VM,
            "a VM with our tags or in our VM id range that no tenant stack records",
            "archive it (protected final backup, reason=orphan), then delete it; only VMs whose tags and pool "
            "prove they are ours and whose tenant has no update running",
        ),
        FindingClass(
            ORPHAN_DOKPLOY_SERVER,
            "a Dokploy server carrying our marker that no tenant stack records (no VM behind it)",
            "remove it from Dokploy",
        ),
        FindingClass(
            ORPHAN_SSH_KEY,
            "a Dokploy SSH key carrying our marker that no stack and no server uses",
            "remove it from Dokploy",
        ),
        FindingClass(
            DANGLING_DNS,
            "a record in the tenant zone that no stack records",
            "delete it, only when it points into a tenant network (addresses only we hand out)",
        ),
        FindingClass(
            STACK_WITHOUT_TENANT,
            "a tenant stack with no declaration in git or the service",
            None,
        ),
        FindingClass(TENANT_WITHOUT_STACK, "a declared tenant that has no stack", "up (creates the tenant)"),
        FindingClass(
            INACTIVE_DOKPLOY_SERVER,
            "a tenant's server that Dokploy marks inactive (its owner's server quota shrank)",
            None,
        ),
        FindingClass(
            LEAKED_API_KEY,
            "a per-run Dokploy API key of this environment older than any run",
            "revoke it",
        ),
        FindingClass(
            ORPHAN_ALLOCATION,
            "a VM id / address allocation whose tenant stack no longer records it",
            "free it",
        ),
    )
}


@dataclass(frozen=True)
class Finding:
    """One difference: its class, whose (tenant, when known), what (subject), why (detail).

    ``fixable`` is False when ``--fix`` would not act on it (the class has no fix, or the proof it needs is
    missing: ``detail`` says which); ``target`` holds what the fix needs (ids, node, organization...).
    """

    cls: str
    subject: str
    detail: str
    tenant: str | None = None
    fixable: bool = True
    target: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(**data)


# --- Inventories ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackVm:
    """A VM a tenant stack records, with the inputs reconciliation compares."""

    index: int
    vmid: int
    node: str
    started: bool | None
    cores: int | None
    memory_mb: int | None


@dataclass(frozen=True)
class StackDns:
    """A DNS record set a tenant stack records."""

    fqdn: str
    type: str
    contents: tuple[str, ...]


@dataclass(frozen=True)
class StackDokploy:
    """A Dokploy server registration a tenant stack records."""

    index: int
    server_id: str
    ssh_key_id: str | None
    organization: str


@dataclass
class StackView:
    """What one tenant stack's state records."""

    slug: str
    locked: bool | None
    """An update holds the stack (None: this backend's locks cannot be read)."""
    vms: list[StackVm] = field(default_factory=list)
    dns: list[StackDns] = field(default_factory=list)
    dokploy: list[StackDokploy] = field(default_factory=list)


@dataclass(frozen=True)
class DeclaredTenant:
    """A tenant as declared (git file or the service's stored declaration)."""

    slug: str
    plan: str
    region: str
    servers: int
    organization: str
    suspended: bool
    source: str
    cores: int
    memory_mb: int


@dataclass(frozen=True)
class ProxmoxVm:
    """A VM as a cluster reports it (``/cluster/resources?type=vm``)."""

    region: str
    vmid: int
    node: str
    name: str
    status: str
    tags: frozenset[str]
    pool: str | None
    lock: str | None
    cores: int
    memory_mb: int
    template: bool


@dataclass(frozen=True)
class DokployServerRow:
    """A server as ``server.all`` of its organization lists it."""

    organization: str
    server_id: str
    name: str
    description: str
    ip_address: str
    status: str
    ssh_key_id: str | None


@dataclass(frozen=True)
class DokployKeyRow:
    """An SSH key as ``sshKey.all`` of its organization lists it."""

    organization: str
    ssh_key_id: str
    name: str
    description: str


@dataclass(frozen=True)
class ApiKeyRow:
    """One of the platform user's Dokploy API keys (never its secret)."""

    key_id: str
    name: str


@dataclass(frozen=True)
class DnsRow:
    """An RRset of the tenant zone."""

    fqdn: str
    type: str
    contents: tuple[str, ...]


@dataclass(frozen=True)
class RegionRange:
    """What marks a VM of a region as ours: the VM id range, the pool, the tenant network."""

    name: str
    vmid_start: int
    vmid_end: int
    pool: str
    network: str
    reserved: int
    """Addresses after the network address kept for infrastructure (never handed to a tenant)."""

    def holds(self, vmid: int) -> bool:
        """Whether ``vmid`` is in the region's VM id range."""
        return self.vmid_start <= vmid <= self.vmid_end

    def hands_out(self, address: str) -> bool:
        """Whether ``address`` is one the allocator gives tenants (in the network, past the reserved ones)."""
        try:
            ip, net = ipaddress.ip_address(address), ipaddress.ip_network(self.network)
        except ValueError:
            return False
        return ip in net and int(ip) - int(net.network_address) > self.reserved and ip != net.broadcast_address


@dataclass
class Inventory:
    """Everything one reconcile run read; ``errors`` names each inventory that could not be read (then the
    findings that depend on it are not made, rather than guessed)."""

    env: str
    zone: str
    regions: list[RegionRange]
    stacks: dict[str, StackView] = field(default_factory=dict)
    declared: dict[str, DeclaredTenant] = field(default_factory=dict)
    vms: list[ProxmoxVm] = field(default_factory=list)
    dokploy_servers: list[DokployServerRow] = field(default_factory=list)
    dokploy_keys: list[DokployKeyRow] = field(default_factory=list)
    organizations_read: set[str] = field(default_factory=set)
    api_keys: list[ApiKeyRow] | None = None
    dns: list[DnsRow] | None = None
    orphan_allocations: list[dict[str, Any]] | None = None
    warm_vms: set[tuple[str, int]] = field(default_factory=set)
    """(region, VM id) of the warm pool's VMs (their allocations say so): no stack records them, by design."""
    regions_read: set[str] = field(default_factory=set)
    service_tenants_read: bool = False
    """Whether the service's tenants were among the declarations (else a service tenant's stack looks undeclared)."""
    errors: list[str] = field(default_factory=list)


@dataclass
class Report:
    """The outcome of one reconcile run: findings, per-tenant verdicts, what could not be read."""

    env: str
    generated_at: float
    findings: list[Finding]
    tenants: dict[str, str]
    """slug -> ``in sync``, or the classes found for it (comma-separated)."""
    counts: dict[str, int]
    """Inventory sizes: stacks, declared, vms, dokploy servers, dns records..."""
    errors: list[str]
    seconds: float = 0.0

    @property
    def in_sync(self) -> bool:
        return not self.findings and not self.errors

    def exit_status(self) -> int:
        """0 in sync, 1 findings, 2 an inventory could not be read (the report is incomplete)."""
        return 2 if self.errors else 1 if self.findings else 0

    def by_class(self) -> dict[str, int]:
        counts = dict.fromkeys(CLASSES, 0)
        for finding in self.findings:
            counts[finding.cls] = counts.get(finding.cls, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "generated_at": self.generated_at,
            "seconds": round(self.seconds, 3),
            "in_sync": self.in_sync,
            "by_class": self.by_class(),
            "findings": [f.to_json() for f in self.findings],
            "tenants": self.tenants,
            "counts": self.counts,
            "errors": self.errors,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(
            env=data["env"],
            generated_at=float(data["generated_at"]),
            findings=[Finding.from_json(f) for f in data.get("findings", [])],
            tenants=dict(data.get("tenants", {})),
            counts=dict(data.get("counts", {})),
            errors=list(data.get("errors", [])),
            seconds=float(data.get("seconds", 0.0)),
        )
