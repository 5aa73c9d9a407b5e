"""What the fleet exporter collects once per interval, from sources the Proxmox exporter cannot know.

* declarations (git files and the service's tenants): tenant, plan, region, suspended;
* allocations: which VM id (``qemu/<vmid>``) and node hold which tenant server, and what the pools have left;
* Dokploy: ``server.all`` once per organisation per interval, with a monitoring key per organisation minted
  once a day (:class:`MonitorKeys`), never per scrape;
* Proxmox (one ``/cluster/resources`` per cluster, one backup listing per backup storage): committed memory
  per node, hence how many more servers of each plan fit, and each tenant's newest backup;
* the fleet database: the newest reconcile report.

A source that fails is marked down (``dokploy_cloud_exporter_source_up``) and the rest is still collected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.dokploy.client import DokployClient
from clients.dokploy.errors import DokployError
from components.environment import Environment
from components.naming import (
    BACKUP_MARK,
    find_server_marker,
    parse_allocation_owner,
    parse_notes,
)
from ipam.store import open_store
from provisioning import fleet_clients
from provisioning.allocations import capacity, env_allocations
from provisioning.dokploy_keys import KEY_RETRY, KEY_TIMEOUT, env_tag
from provisioning.fleet_db import fleet_database
from provisioning.reconcile.inventory import load_declarations
from provisioning.stacks import TenantStacks
from provisioning.tenant_keys import NoTenantKey, key_facts

log = logging.getLogger(__name__)

MONITOR_KEY_PREFIX = "dcmon"
MONITOR_KEY_LIFETIME = 86_400
"""Dokploy expires a monitoring key after a day by itself (an exporter killed before revoking leaks nothing)."""
MONITOR_KEY_RENEW = 20 * 3600.0
DOKPLOY_READERS = 8
"""Organisations read at once (one call each)."""


@dataclass(frozen=True)
class TenantRow:
    slug: str
    plan: str
    region: str
    source: str
    suspended: bool
    organization: str
    backups: bool


@dataclass(frozen=True)
class ServerRow:
    slug: str
    index: int
    region: str
    vmid: int
    node: str


@dataclass
class Snapshot:
    """One interval's collection (what every scrape until the next one serves)."""

    collected_at: float = 0.0
    seconds: float = 0.0
    tenants: list[TenantRow] = field(default_factory=list)
    servers: list[ServerRow] = field(default_factory=list)
    dokploy: list[tuple[str, int, str]] = field(default_factory=list)
    """(tenant, server index, serverStatus) of our servers, from their markers."""
    capacity: list[tuple[str, str, int]] = field(default_factory=list)
    """(region, plan, servers of that plan that still fit)."""
    pools: list[tuple[str, str, int]] = field(default_factory=list)
    """(region, vmids|addresses, free)."""
    node_memory: list[tuple[str, str, int, int]] = field(default_factory=list)
    """(region, node, committed MiB, total MiB)."""
    last_backup: dict[str, float] = field(default_factory=dict)
    key_created: dict[str, float] = field(default_factory=dict)
    """Tenant -> when its current SSH key pair was made (the rotation policy's clock)."""
    report: dict[str, Any] | None = None
    source_up: dict[str, bool] = field(default_factory=dict)


class MonitorKeys:
    """One Dokploy key per organisation for reading its servers: minted on first use, renewed after 20 h,
    re-minted once on a 401, revoked by :meth:`close`. Named ``dcmon:<env>:<unix time>``."""

    def __init__(self, platform: DokployClient, env: str, base_url: str) -> None:
        self.platform, self.env, self.base_url = platform, env, base_url
        self._keys: dict[str, tuple[str, str, float]] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def _count(self, procedure: str) -> None:
        with self._lock:
            self.calls[procedure] += 1

    def client(self, organization: str, *, fresh: bool = False) -> DokployClient:
        with self._lock:
            held = self._keys.get(organization)
        if fresh or held is None or time.time() - held[2] > MONITOR_KEY_RENEW:
            if held is not None:
                self._revoke(held[0])
            now = time.time()
            created = self.platform.create_api_key(
                f"{MONITOR_KEY_PREFIX}:{env_tag(self.env)}:{int(now):010d}",
                organization,
                rate_limit_enabled=False,
                expires_in=MONITOR_KEY_LIFETIME,
            )
            self._count("user.createApiKey")
            held = (str(created["id"]), str(created["key"]), now)
            with self._lock:
                self._keys[organization] = held
        return DokployClient(self.base_url, held[1], timeout=KEY_TIMEOUT, retry=KEY_RETRY)

    def servers(self, organization: str) -> list[dict[str, Any]]:
        """``server.all`` of ``organization`` (one call; a second only when the key was refused)."""
        try:
            self._count("server.all")
            return self.client(organization).server_all()
        except DokployError as exc:
            if exc.status != 401:
                raise
            self._count("server.all")
            return self.client(organization, fresh=True).server_all()

    def _revoke(self, key_id: str) -> None:
        try:
            self.platform.delete_api_key(key_id)
        except DokployError as exc:  # it expires by itself within a day
            log.warning("monitoring key %s not revoked (%s); Dokploy expires it within a day", key_id, exc)

    def close(self) -> None:
        for key_id, _key, _at in self._keys.values():
            self._revoke(key_id)
        self._keys.clear()


class FleetSources:
    """Collects a :class:`Snapshot` for one environment (credentials from its secrets or the process)."""

    def __init__(self, stacks: TenantStacks, tenants_dir: Path, service_database: str | None = None) -> None:
        self.stacks, self.tenants_dir, self.service_database = stacks, tenants_dir, service_database
        env: Environment = stacks.environment
        self.environment = env
        self.keys = MonitorKeys(stacks.dokploy_platform(), env.name, env.dokploy_url)

    def collect(self) -> Snapshot:
        started = time.monotonic()
        snap = Snapshot(collected_at=time.time())
        steps: list[tuple[str, Callable[[Snapshot], None]]] = [
            ("declarations", self._declarations),
            ("allocations", self._allocations),
            ("dokploy", self._dokploy),
            *((f"proxmox:{name}", self._proxmox(name)) for name in self.environment.regions),
            ("reconcile", self._report),
            ("keys", self._keys),
        ]
        for source, step in steps:
            try:
                step(snap)
                snap.source_up[source] = True
            except Exception as exc:
                log.warning("fleet exporter: %s not collected (%s: %s)", source, type(exc).__name__, exc)
                snap.source_up[source] = False
        snap.seconds = time.monotonic() - started
        return snap

    def close(self) -> None:
        self.keys.close()

    def _declarations(self, snap: Snapshot) -> None:
        found, errors = load_declarations(self.environment, self.tenants_dir, self.service_database)
        plans = self.environment.plans
        snap.tenants = [
            TenantRow(
                spec.slug,
                spec.plan,
                spec.region,
                source,
                bool(spec.suspended),
                spec.dokploy_organization,
                plans[spec.plan].backups is not None,
            )
            for spec, source in found.values()
        ]
        if errors and not found:
            raise RuntimeError("; ".join(errors))

    def _keys(self, snap: Snapshot) -> None:
        """Each applied tenant's key age, from its stack (plain outputs, nothing decrypted)."""
        for tenant in snap.tenants:
            try:
                facts = key_facts(self.stacks, tenant.slug)
            except NoTenantKey:
                continue  # declared, not applied yet
            if facts.created_at is not None:
                snap.key_created[tenant.slug] = facts.created_at

    def _allocations(self, snap: Snapshot) -> None:
        held = env_allocations(open_store(self.stacks.allocations_location()), self.environment.name)
        for row in held:
            owner = parse_allocation_owner(row.owner)
            if owner is not None:
                region = row.pool.split("/", 1)[1]
                snap.servers.append(ServerRow(owner[0], owner[1], region, row.vmid, row.node))
        snap.pools = [
            (p.pool.split("/", 1)[1], kind, free)
            for p in capacity(self.environment, held)
            for kind, free in (("vmids", p.free_vmids), ("addresses", p.free_addresses))
        ]

    def _dokploy(self, snap: Snapshot) -> None:
        failed = []

        def read(organization: str) -> tuple[str, list[dict[str, Any]] | Exception]:
            try:
                return organization, self.keys.servers(organization)
            except Exception as exc:
                return organization, exc

        organizations = sorted({t.organization for t in snap.tenants})
        with futures.ThreadPoolExecutor(max_workers=DOKPLOY_READERS) as pool:
            answers = list(pool.map(read, organizations))
        for organization, rows in answers:
            if isinstance(rows, Exception):
                failed.append(f"{organization}: {rows}")
                continue
            for row in rows:
                marker = find_server_marker(str(row.get("description") or ""))
                if marker is not None and marker[0] == self.environment.name:
                    snap.dokploy.append((marker[1], marker[2], str(row.get("serverStatus") or "")))
        if failed:
            raise RuntimeError(f"{len(failed)} organisation(s) unread, e.g. {failed[0]}")

    def _proxmox(self, region_name: str) -> Callable[[Snapshot], None]:
        region = self.environment.regions[region_name]

        def step(snap: Snapshot) -> None:
            api = fleet_clients.proxmox(self.stacks, region_name, read_only=True)
            resources = api.cluster.resources.get()
            committed: Counter[str] = Counter()
            nodes = {}
            for r in resources:
                if r.get("type") == "qemu" and not r.get("template"):
                    committed[str(r["node"])] += int(r.get("maxmem") or 0) // 2**20
                elif r.get("type") == "node" and r.get("status") == "online" and r["node"] in region.nodes:
                    nodes[str(r["node"])] = int(r.get("maxmem") or 0) // 2**20
            for node, total in sorted(nodes.items()):
                snap.node_memory.append((region_name, node, committed[node], total))
            pool_free = min((free for r, _k, free in snap.pools if r == region_name), default=0)
            for plan in self.environment.plans.values():
                fit = sum(max(0, total - committed[node]) // plan.memory_mb for node, total in nodes.items())
                snap.capacity.append((region_name, plan.name, min(fit, pool_free)))
            storages = sorted({p.backups.storage for p in self.environment.plans.values() if p.backups})
            for storage in storages:
                node = sorted(nodes)[0] if nodes else region.nodes[0]
                for item in api.nodes(node).storage(storage).content.get(content="backup"):
                    fields = parse_notes(str(item.get("notes") or ""), BACKUP_MARK)
                    if fields and fields["env"] == self.environment.name:
                        slug = fields["tenant"]
                        snap.last_backup[slug] = max(snap.last_backup.get(slug, 0.0), float(item.get("ctime") or 0))

        return step

    def _report(self, snap: Snapshot) -> None:
        snap.report = fleet_database(self.stacks).latest_report()
