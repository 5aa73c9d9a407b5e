"""Backups, restores and undelete of whole tenants: :mod:`provisioning.backups` and :mod:`provisioning.archive`
applied to a tenant's stack, under the stack's run lock so no ``up`` changes a server while it is restored.

Used by cloudctl and by the service's workers (jobs ``backup``, ``restore`` and ``undelete``).

A restore into the server a backup came from (same VM id) is *in place*: id, MAC (so address), hostname
and Dokploy server stay, the stack's inputs are unchanged and a preview shows nothing to do. A backup of
another server (or an archive of a decommissioned one) is restored with new MAC addresses and then the
stack is applied, which puts the server's own name, address, tags and SSH key back on the restored disks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import yaml
from proxmoxer import ProxmoxAPI, ResourceException

from clients.proxmox import client_from_env, vmid_taken
from components.naming import allocation_owner, allocation_pool
from components.spec import TenantSpec
from ipam.store import Allocation, open_store
from provisioning import archive as A
from provisioning.backups import (
    BackupVolume,
    Progress,
    RestoreRefused,
    ServerRef,
    backup_now,
    list_backups,
    restore_into,
    servers_in_state,
    set_protected,
    volume_path,
)
from provisioning.runlock import stack_run_lock
from provisioning.runner import CrashSafeRunner
from provisioning.runs import RunResult
from provisioning.stacks import TenantStacks, region_variables

RESTORED_PREFIX = "restored="
FAILURES = (RuntimeError, ResourceException, requests.RequestException, TimeoutError)
"""What a backup operation raises for a reason to report, not a bug: RuntimeError covers BackupError,
RestoreRefused, ArchiveFailed, StackBusy and a failed Proxmox task; the others are Proxmox answers and outages."""


class BackupError(RuntimeError):
    """A backup operation that cannot go on; the message says why and what to do."""


@dataclass
class RestoreReport:
    """What a restore or undelete did."""

    slug: str
    restored: list[dict[str, Any]] = field(default_factory=list)
    applied: RunResult | None = None

    def to_json(self) -> dict[str, Any]:
        applied = None
        if self.applied is not None:
            applied = {"ok": self.applied.ok, "changes": self.applied.changes, "error": self.applied.error}
        return {"slug": self.slug, "restored": self.restored, "applied": applied}


class TenantBackups:
    """The backup operations on the tenant stacks of one environment."""

    def __init__(self, stacks: TenantStacks) -> None:
        self.stacks = stacks
        self.environment = stacks.environment

    # --- reads ---------------------------------------------------------------------------------
    def api(self, tenant: TenantSpec) -> ProxmoxAPI:
        return client_from_env(env=self.stacks.env_vars(tenant))

    def servers(self, tenant: TenantSpec) -> list[ServerRef]:
        """The tenant's servers as its stack holds them."""
        stack = self.stacks.stack(tenant)
        return servers_in_state(stack.export_stack().deployment or {}, tenant.slug)

    def storages(self, tenant: TenantSpec) -> list[str]:
        """Where the tenant's backups can be: its plan's backup storage and the archive storage."""
        plan = self.environment.plans[tenant.plan]
        names = [plan.backups.storage] if plan.backups else []
        if self.environment.archive:
            names.append(self.environment.archive.storage)
        return list(dict.fromkeys(names))

    def backups(self, tenant: TenantSpec, servers: Sequence[ServerRef] | None = None) -> list[BackupVolume]:
        """Every backup of the tenant, oldest first, across its storages (``servers``: as read already)."""
        servers = self.servers(tenant) if servers is None else servers
        node = servers[0].node if servers else self.environment.regions[tenant.region].nodes[0]
        return list_backups(
            self.api(tenant), self.storages(tenant), node, self.environment.name, tenant.slug, [s.vmid for s in servers]
        )

    # --- writes --------------------------------------------------------------------------------
    def backup(
        self, tenant: TenantSpec, server: int | None = None, on_progress: Progress | None = None
    ) -> list[BackupVolume]:
        """Back up all servers (or server ``server``) now to the plan's backup storage."""
        plan = self.environment.plans[tenant.plan]
        storage = (
            plan.backups.storage
            if plan.backups
            else (self.environment.archive.storage if self.environment.archive else None)
        )
        if storage is None:
            raise BackupError(f"plan {tenant.plan} has no backup storage and the environment no archive storage")
        servers = self._pick(tenant, server)
        return backup_now(
            self.api(tenant), servers, storage, self.environment.name, tenant.slug, on_progress=on_progress
        )

    def protect(self, tenant: TenantSpec, volid: str, protected: bool = True) -> BackupVolume:
        """Protect one of the tenant's backups from pruning and deletion (or lift it)."""
        servers = self.servers(tenant)
        backup = self._backup(tenant, volid, servers)
        node = servers[0].node if servers else self.environment.regions[tenant.region].nodes[0]
        set_protected(self.api(tenant), node, backup.volid, protected)
        return self._backup(tenant, volid, servers)

    def restore(
        self,
        tenant: TenantSpec,
        volid: str,
        server: int,
        *,
        stop: bool = False,
        on_progress: Progress | None = None,
    ) -> RestoreReport:
        """Restore backup ``volid`` into server ``server``: in place when it is that server's own backup,
        else with new MACs followed by an ``up`` of the stack."""
        report = RestoreReport(tenant.slug)
        with stack_run_lock(self.stacks.stack_name(tenant.slug)):
            servers = self.servers(tenant)
            target = self._pick(tenant, server, servers)[0]
            backup = self._backup(tenant, volid, servers)
            in_place = backup.vmid == target.vmid
            restore_into(
                self.api(tenant), target, backup, stop=stop, new_identity=not in_place, on_progress=on_progress
            )
            report.restored.append({"server": target.index, "vmid": target.vmid, "from": volid, "in_place": in_place})
            if not in_place:
                report.applied = self._apply(tenant)
        return report

    def undelete(self, tenant: TenantSpec, on_progress: Progress | None = None) -> RestoreReport:
        """Bring an archived tenant back: apply its stack (fresh servers, DNS, keys, Dokploy), restore each
        server from its archive, apply again. Re-running converges: servers already restored are skipped."""
        report = RestoreReport(tenant.slug)
        archives = self.archives(tenant.slug)
        if not archives:
            raise BackupError(
                f"no archives of {tenant.slug} in environment {self.environment.name} (never archived, or purged "
                "after their delete-after date)"
            )
        newest = _newest_per_server(archives)
        if not newest:
            raise BackupError(
                f"{tenant.slug} has only archives of servers removed by downgrades, none of a decommission"
            )
        if max(newest) >= tenant.servers:
            raise BackupError(f"the archives hold {max(newest) + 1} servers; the declaration has {tenant.servers}")
        with stack_run_lock(self.stacks.stack_name(tenant.slug)):
            self._pin_allocations(tenant, newest)
            created = CrashSafeRunner(self.stacks).run(tenant, "up")
            if not created.ok:
                raise BackupError(f"undelete of {tenant.slug}: creating its servers failed: {created.error}")
            api, servers = self.api(tenant), {s.index: s for s in self.servers(tenant)}
            node = next(iter(servers.values())).node
            for index, archive in sorted(newest.items()):
                target = servers[index]
                if _restored_into(api, node, archive) == target.vmid:
                    continue
                volume = BackupVolume(
                    archive.volid,
                    archive.storage,
                    archive.vmid,
                    archive.ctime,
                    archive.size,
                    "",
                    True,
                    "archive",
                    tenant.slug,
                )
                restore_into(api, target, volume, stop=True, new_identity=True, on_progress=on_progress)
                _mark_restored(api, node, archive, target.vmid)
                report.restored.append({"server": index, "vmid": target.vmid, "from": archive.volid, "in_place": False})
            report.applied = self._apply(tenant)
            if not report.applied.ok:
                raise BackupError(f"undelete of {tenant.slug}: applying the stack failed: {report.applied.error}")
        return report

    def archives(self, slug: str | None = None) -> list[A.Archive]:
        """The environment's archives (of one tenant), across its regions, not yet past their date."""
        policy = A.require_policy(self.environment)
        out: dict[str, A.Archive] = {}
        for region in self.environment.regions.values():
            api = client_from_env(env={**self.stacks.secrets(), **region_variables(region)})
            for item in A.list_archives(api, self.environment.name, policy.storage, region.nodes[0], slug):
                out.setdefault(f"{region.name}:{item.volid}", item)
        return sorted(out.values(), key=lambda a: (a.slug, a.server, a.ctime))

    def purge(self, today: dt.date | None = None, dry_run: bool = False) -> list[A.Archive]:
        """Remove the environment's archives past their date, in every region."""
        policy = A.require_policy(self.environment)
        removed: list[A.Archive] = []
        for region in self.environment.regions.values():
            api = client_from_env(env={**self.stacks.secrets(), **region_variables(region)})
            removed += A.purge_expired(
                api, self.environment.name, policy.storage, region.nodes[0], today=today, dry_run=dry_run
            )
        return removed

    # --- helpers -------------------------------------------------------------------------------
    def _pin_allocations(self, tenant: TenantSpec, archives: dict[int, A.Archive]) -> None:
        """Give each server back its archived VM id, address and node where they are still free.

        Same address: the hostnames point where they did. Same VM id: PVE lets the provisioning token read
        an archive for a restore into the VM id it was taken from; any other target needs ``VM.Backup`` on
        the archived id, which a VM that no longer exists does not grant.
        """
        store = open_store(self.stacks.allocations_location())
        pool, api = allocation_pool(self.environment.name, tenant.region), self.api(tenant)
        memory = self.environment.plans[tenant.plan].memory_mb
        for index, archive in archives.items():
            if archive.address and archive.node and not vmid_taken(api, archive.vmid):
                wanted = Allocation(
                    pool, allocation_owner(tenant.slug, index), archive.vmid, archive.address, archive.node
                )
                store.adopt(wanted, memory_mb=memory)

    def _apply(self, tenant: TenantSpec) -> RunResult:
        return CrashSafeRunner(self.stacks).run(tenant, "up")

    def _pick(
        self, tenant: TenantSpec, server: int | None, servers: Sequence[ServerRef] | None = None
    ) -> list[ServerRef]:
        servers = list(self.servers(tenant) if servers is None else servers)
        if not servers:
            raise BackupError(f"tenant {tenant.slug} has no servers in its stack {self.stacks.stack_name(tenant.slug)}")
        if server is None:
            return servers
        chosen = [s for s in servers if s.index == server]
        if not chosen:
            raise BackupError(
                f"tenant {tenant.slug} has no server {server}; its servers are {[s.index for s in servers]}"
            )
        return chosen

    def _backup(self, tenant: TenantSpec, volid: str, servers: Sequence[ServerRef]) -> BackupVolume:
        for backup in self.backups(tenant, servers):
            if backup.volid == volid:
                return backup
        raise RestoreRefused(
            f"{volid} is not a backup of tenant {tenant.slug} (see `cloudctl backups {tenant.slug}` for its backups)"
        )


def _newest_per_server(archives: Sequence[A.Archive]) -> dict[int, A.Archive]:
    """The last decommission's archive of each server: the newest per index, for the servers the newest
    archive's declaration had (older archives of servers beyond them belong to an earlier decommission)."""
    whole = sorted((a for a in archives if a.reason == "decommission"), key=lambda a: a.ctime)
    if not whole:
        return {}
    newest = whole[-1]
    count = _declared_servers(newest.declaration) if newest.declaration else newest.server + 1
    out: dict[int, A.Archive] = {}
    for archive in whole:
        if archive.server < count:
            out[archive.server] = archive
    return out


def _declared_servers(declaration: str) -> int:
    data = yaml.safe_load(declaration)
    return int(data.get("servers", 1)) if isinstance(data, dict) else 1


def _restored_into(api: ProxmoxAPI, node: str, archive: A.Archive) -> int | None:
    """The VM id an undelete already restored ``archive`` into (from its notes), if any."""
    item = api.nodes(node).storage(archive.storage).content(volume_path(archive.volid)).get()
    for line in str(item.get("notes", "")).splitlines():
        if line.startswith(RESTORED_PREFIX):
            value = line[len(RESTORED_PREFIX) :].split()[0]
            return int(value) if value.isdigit() else None
    return None


def _mark_restored(api: ProxmoxAPI, node: str, archive: A.Archive, vmid: int) -> None:
    content = api.nodes(node).storage(archive.storage).content(volume_path(archive.volid))
    notes = [line for line in str(content.get().get("notes", "")).splitlines() if not line.startswith(RESTORED_PREFIX)]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    content.put(notes="\n".join([*notes, f"{RESTORED_PREFIX}{vmid} {stamp}"]))
