"""Archive before destroy: a final backup of every server of a decommissioned tenant, kept for the
environment's retention window, then purged; undelete restores a tenant from them.

The archives are their own record. Each is a protected vzdump volume on the environment's archive storage
whose notes say whose server it was and until when it is kept::

    dokploy-cloud-archive env=prod tenant=acme server=0 vmid=100123 host=acme-1.example.net plan=business
        delete-after=2027-01-03       (one line)
    declaration=<base64 of the tenant's YAML declaration>

so listing, purging and undeleting need nothing but Proxmox, and a lost database loses no archive.
Protection keeps them out of any pruning and refuses their deletion until the purge lifts it.

Crash safety: an archive run takes a fresh final backup of each server and then removes the superseded
ones of the same server (earlier attempts of a decommission that died), so a rerun converges on exactly
one archive per server and never has fewer than one once the first attempt's backup finished. A dead
attempt's vzdump still holding the VM's ``backup`` lock is waited for.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from proxmoxer import ProxmoxAPI, ResourceException

from clients.proxmox_tasks import wait_task
from components.environment import ArchivePolicy, Environment
from components.naming import ARCHIVE_MARK, parse_notes
from components.spec import TenantSpec, dump_tenant, parse_tenant
from components.spec.hostnames import server_labels
from provisioning.backups import BackupVolume, Progress, ServerRef, set_protected, volume_path, wait_unlocked

ARCHIVE_TIMEOUT = 4 * 3600.0
DECLARATION_PREFIX = "declaration="


class ArchiveFailed(RuntimeError):
    """A server could not be archived; nothing was destroyed."""


@dataclass(frozen=True)
class Archive:
    """A decommissioned server's final backup, as its notes describe it."""

    volid: str
    storage: str
    env: str
    slug: str
    server: int
    vmid: int
    hostname: str
    address: str
    node: str
    plan: str
    delete_after: str
    """ISO date after which the purge removes it."""
    ctime: int
    size: int
    declaration: str | None
    """The tenant's YAML declaration at decommission time (undelete re-declares it)."""
    reason: str = "decommission"
    """``decommission`` (the whole tenant went) or ``downgrade`` (fewer servers were declared)."""

    def expired(self, today: dt.date) -> bool:
        return dt.date.fromisoformat(self.delete_after) < today

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("declaration")
        return data


def archive_notes(
    env: str, spec: TenantSpec, server: ServerRef, hostname: str, delete_after: dt.date, reason: str = "decommission"
) -> str:
    """The first notes line of a server's archive (fits vzdump's ``notes-template``)."""
    return (
        f"{ARCHIVE_MARK} env={env} tenant={spec.slug} server={server.index} vmid={server.vmid} "
        f"host={hostname} addr={server.address or '-'} node={server.node} plan={spec.plan} "
        f"reason={reason} delete-after={delete_after.isoformat()}"
    )


def parse_archive(storage: str, item: dict[str, Any]) -> Archive | None:
    """The archive a storage content entry is, or None when its notes are not an archive's."""
    notes = str(item.get("notes", ""))
    fields = parse_notes(notes, ARCHIVE_MARK)
    if fields is None or not {"server", "vmid", "delete-after"} <= set(fields):
        return None
    declaration = None
    for line in notes.splitlines()[1:]:
        if line.startswith(DECLARATION_PREFIX):
            declaration = base64.b64decode(line[len(DECLARATION_PREFIX) :]).decode()
    try:
        return Archive(
            volid=str(item["volid"]),
            storage=storage,
            env=fields["env"],
            slug=fields["tenant"],
            server=int(fields["server"]),
            vmid=int(fields["vmid"]),
            hostname=fields.get("host", ""),
            address="" if fields.get("addr", "-") == "-" else fields["addr"],
            node=fields.get("node", ""),
            plan=fields.get("plan", ""),
            delete_after=dt.date.fromisoformat(fields["delete-after"]).isoformat(),
            ctime=int(item.get("ctime", 0)),
            size=int(item.get("size", 0)),
            declaration=declaration,
            reason=fields.get("reason", "decommission"),
        )
    except ValueError:
        return None


def list_archives(api: ProxmoxAPI, env: str, storage: str, node: str, slug: str | None = None) -> list[Archive]:
    """The environment's archives on ``storage`` (read through ``node``), of one tenant when ``slug`` is given."""
    out = []
    for item in api.nodes(node).storage(storage).content.get(content="backup"):
        archive = parse_archive(storage, item)
        if archive is not None and archive.env == env and (slug is None or archive.slug == slug):
            out.append(archive)
    return sorted(out, key=lambda a: (a.slug, a.server, a.ctime))


def archive_tenant(
    api: ProxmoxAPI,
    environment: Environment,
    spec: TenantSpec,
    servers: Sequence[ServerRef],
    hostnames: Sequence[str],
    *,
    today: dt.date | None = None,
    on_progress: Progress | None = None,
    timeout: float = ARCHIVE_TIMEOUT,
    reason: str = "decommission",
) -> list[Archive]:
    """Take and record the final backup of each server; raise :class:`ArchiveFailed` if any fails.

    The backup runs in ``stop`` mode (PVE stops the guest for a consistent copy and starts it again);
    the destroy that follows stops it for good.
    """
    policy = require_policy(environment)
    today = today or dt.datetime.now(dt.UTC).date()
    delete_after = today + dt.timedelta(days=policy.retention_days)
    declaration = base64.b64encode(dump_tenant(spec).encode()).decode()
    archives = []
    for server in servers:
        hostname = hostnames[server.index] if server.index < len(hostnames) else ""
        first = archive_notes(environment.name, spec, server, hostname, delete_after, reason)
        try:
            archives.append(
                _archive_server(api, policy, server, first, declaration, on_progress=on_progress, timeout=timeout)
            )
        except (ResourceException, TimeoutError, RuntimeError) as exc:
            raise ArchiveFailed(
                f"archive of {spec.slug} server {server.index} (VM {server.vmid}) to {policy.storage} failed, so "
                f"nothing was destroyed: {exc}. Fix the cause (storage space, a locked VM) and run the "
                "decommission again"
            ) from exc
        _remove_superseded(api, archives[-1], server)
    return archives


def archive_orphan_vm(
    api: ProxmoxAPI,
    environment: Environment,
    slug: str,
    server: ServerRef,
    *,
    today: dt.date | None = None,
    on_progress: Progress | None = None,
    timeout: float = ARCHIVE_TIMEOUT,
) -> Archive:
    """The final backup of a VM no stack records (``reason=orphan``), before reconciliation deletes it.

    Kept for the environment's retention like any archive, listed by ``cloudctl archives``; it carries no
    declaration, so undelete never picks it (restore it by hand with ``qmrestore`` if it mattered).
    """
    policy = require_policy(environment)
    today = today or dt.datetime.now(dt.UTC).date()
    delete_after = today + dt.timedelta(days=policy.retention_days)
    first = (
        f"{ARCHIVE_MARK} env={environment.name} tenant={slug} server={server.index} vmid={server.vmid} "
        f"host=- addr=- node={server.node} plan=- reason=orphan delete-after={delete_after.isoformat()}"
    )
    try:
        archive = _archive_server(api, policy, server, first, "", on_progress=on_progress, timeout=timeout)
    except (ResourceException, TimeoutError, RuntimeError) as exc:
        raise ArchiveFailed(
            f"archive of orphan VM {server.vmid} to {policy.storage} failed, so it was not deleted: {exc}"
        ) from exc
    _remove_superseded(api, archive, server)  # a fix killed between its archive and the delete archived it once
    return archive


def tenant_hostnames(spec: TenantSpec, environment: Environment) -> list[str]:
    """The tenant's server hostnames, by server index (as the component names them)."""
    labels = server_labels(spec.host_label, spec.servers, spec.hostname_scheme)
    return [f"{label}.{environment.zone}" for label in labels]


def require_policy(environment: Environment) -> ArchivePolicy:
    if environment.archive is None:
        raise ArchiveFailed(
            f"environment {environment.name} has no archive settings, so its tenants cannot be decommissioned "
            "safely: set dokploy-cloud:environment.archive (storage, retention_days) in its stack file"
        )
    return environment.archive


def _archive_server(
    api: ProxmoxAPI,
    policy: ArchivePolicy,
    server: ServerRef,
    first_line: str,
    declaration: str,
    *,
    on_progress: Progress | None,
    timeout: float,
) -> Archive:
    wait_unlocked(api, server, ("backup",))  # a dead attempt's vzdump
    content = api.nodes(server.node).storage(policy.storage).content
    before = {str(item["volid"]) for item in content.get(content="backup", vmid=server.vmid)}
    upid = api.nodes(server.node).vzdump.post(
        vmid=server.vmid,
        storage=policy.storage,
        mode="stop",
        compress="zstd",
        protected=1,
        **{"notes-template": first_line},
    )
    wait_task(api, upid, timeout=timeout, what=f"final backup of VM {server.vmid}", on_progress=on_progress)
    fresh = [
        a
        for item in content.get(content="backup", vmid=server.vmid)
        if str(item["volid"]) not in before and (a := parse_archive(policy.storage, item)) is not None
    ]
    if not fresh:
        raise ArchiveFailed(f"the final backup of VM {server.vmid} finished but is not on {policy.storage}")
    archive = max(fresh, key=lambda a: a.ctime)
    notes = f"{first_line}\n{DECLARATION_PREFIX}{declaration}"
    content(volume_path(archive.volid)).put(notes=notes)
    return Archive(**{**asdict(archive), "declaration": base64.b64decode(declaration).decode()})


def _remove_superseded(api: ProxmoxAPI, keep: Archive, server: ServerRef) -> None:
    """Remove earlier archives of the same server of the same tenant (attempts of a decommission that died)."""
    content = api.nodes(server.node).storage(keep.storage).content
    for item in content.get(content="backup", vmid=server.vmid):
        old = parse_archive(keep.storage, item)
        if old is None or old.volid == keep.volid or old.ctime > keep.ctime:
            continue
        if (old.env, old.slug, old.server, old.vmid, old.reason) == (
            keep.env,
            keep.slug,
            keep.server,
            keep.vmid,
            keep.reason,
        ):
            delete_archive(api, server.node, old)


def delete_archive(api: ProxmoxAPI, node: str, archive: Archive | BackupVolume) -> None:
    """Lift the protection and delete the volume (an ``imgdel`` task)."""
    set_protected(api, node, archive.volid, False)
    upid = api.nodes(node).storage(archive.storage).content(volume_path(archive.volid)).delete()
    if isinstance(upid, str) and upid.startswith("UPID:"):
        wait_task(api, upid, timeout=600, what=f"deletion of {archive.volid}")


def purge_expired(
    api: ProxmoxAPI,
    env: str,
    storage: str,
    node: str,
    *,
    today: dt.date | None = None,
    dry_run: bool = False,
    on_removed: Callable[[Archive], None] | None = None,
) -> list[Archive]:
    """Remove the environment's archives past their delete-after date; return them (``dry_run``: only list)."""
    today = today or dt.datetime.now(dt.UTC).date()
    expired = [a for a in list_archives(api, env, storage, node) if a.expired(today)]
    for archive in expired:
        if not dry_run:
            delete_archive(api, node, archive)
            if on_removed is not None:
                on_removed(archive)
    return expired


def undelete_declaration(archives: Sequence[Archive], environment: Environment) -> TenantSpec:
    """The tenant's declaration as its archives recorded it (same slug, hostnames and plan)."""
    recorded = [a for a in archives if a.declaration and a.reason == "decommission"]
    if not recorded:
        raise ArchiveFailed("none of the archives records the tenant's declaration; declare it by hand and restore")
    newest = max(recorded, key=lambda a: a.ctime)
    assert newest.declaration is not None
    return parse_tenant(
        newest.declaration,
        f"archive {newest.volid}",
        environment.plans,
        expected_slug=newest.slug,
        regions=environment.regions,
    )
