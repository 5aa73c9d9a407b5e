"""A tenant's backups through the provisioning token: back up now, list, protect, restore.

Backups are Proxmox's own (vzdump volumes on a backup storage). Whose they are is read from the notes
every backup of ours carries (``dokploy-cloud-backup env=… tenant=…``, :func:`components.naming.backup_notes_template`)
and from the VM ids of the tenant's servers. A restore in place overwrites a server's disks with a
backup's, keeping its VM id, MAC (so its address), hostname and Dokploy server; the stack's inputs do not
change, so a preview afterwards shows nothing to do.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from proxmoxer import ProxmoxAPI

from clients.proxmox_tasks import wait_task
from components.naming import (
    ALLOCATION_TYPE,
    ARCHIVE_MARK,
    BACKUP_MARK,
    CT_TYPE,
    VM_TYPE,
    backup_notes_template,
    parse_notes,
)

Progress = Callable[[str], None]
BACKUP_TIMEOUT = 4 * 3600.0
RESTORE_TIMEOUT = 4 * 3600.0
POWER_TIMEOUT = 600.0
LOCK_WAIT = 3600.0
LOCK_POLL = 0.5


class RestoreRefused(RuntimeError):
    """A restore that would overwrite a running server without being told to stop it, or a backup that is
    not the server's."""


@dataclass(frozen=True)
class ServerRef:
    """One server of a tenant stack: its index (``<slug>-s<index>-vm``), VM id and node, and the address
    its allocation holds (empty when the state has none)."""

    index: int
    vmid: int
    node: str
    address: str = ""
    kind: str = "qemu"
    """``qemu`` (a VM) or ``lxc`` (a container, ``<slug>-s<index>-ct``): which API path holds the guest."""

    def guest(self, api: ProxmoxAPI) -> Any:
        """The guest's API path, ``/nodes/{node}/{qemu|lxc}/{vmid}``."""
        return getattr(api.nodes(self.node), self.kind)(self.vmid)


@dataclass(frozen=True)
class BackupVolume:
    """One backup on a storage, with what its notes say about whose it is."""

    volid: str
    storage: str
    vmid: int | None
    ctime: int
    size: int
    notes: str
    protected: bool
    kind: str
    """``scheduled/on-demand`` (our backup notes), ``archive`` (final backup of a decommission) or ``other``."""
    tenant: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def servers_in_state(deployment: Mapping[str, Any], slug: str) -> list[ServerRef]:
    """The tenant's VMs as the stack's checkpoint records them, by server index, with their allocated address."""
    vms: dict[int, tuple[int, str, str]] = {}
    addresses: dict[int, str] = {}
    for resource in deployment.get("resources") or []:
        index = _server_index(str(resource.get("urn", "")).rsplit("::", 1)[-1], slug)
        if index is None:
            continue
        outputs = resource.get("outputs") or {}
        kind = {VM_TYPE: "qemu", CT_TYPE: "lxc"}.get(str(resource.get("type")))
        if kind and str(resource.get("id", "")).isdigit():
            vms[index] = (int(resource["id"]), str(outputs.get("nodeName", "")), kind)
        elif resource.get("type") == ALLOCATION_TYPE and isinstance(outputs.get("address"), str):
            addresses[index] = outputs["address"]
    return [ServerRef(i, vmid, node, addresses.get(i, ""), kind) for i, (vmid, node, kind) in sorted(vms.items())]


def _server_index(name: str, slug: str) -> int | None:
    """``<slug>-s<index>-vm``, ``-ct`` or ``-alloc`` -> index."""
    prefix, _, rest = name.rpartition("-s")
    index, _, part = rest.partition("-")
    return int(index) if prefix == slug and index.isdigit() and part in ("vm", "ct", "alloc") else None


def list_backups(
    api: ProxmoxAPI, storages: Iterable[str], node: str, env: str, slug: str, vmids: Iterable[int] = ()
) -> list[BackupVolume]:
    """Every backup of the tenant on ``storages``: those whose notes name it, and any of its servers' VM ids.

    ``node`` is where the storages are read (shared storages show the same content on every node).
    """
    ids = set(vmids)
    out = []
    for storage in dict.fromkeys(storages):
        for item in api.nodes(node).storage(storage).content.get(content="backup"):
            volume = _volume(storage, item)
            if (volume.tenant == slug and _env_of(item) == env) or (volume.tenant is None and volume.vmid in ids):
                out.append(volume)
    return sorted(out, key=lambda b: (b.ctime, b.volid))


def _env_of(item: dict[str, Any]) -> str | None:
    fields = parse_notes(str(item.get("notes", "")), BACKUP_MARK) or parse_notes(
        str(item.get("notes", "")), ARCHIVE_MARK
    )
    return fields["env"] if fields else None


def _volume(storage: str, item: dict[str, Any]) -> BackupVolume:
    notes = str(item.get("notes", ""))
    backup, archive = parse_notes(notes, BACKUP_MARK), parse_notes(notes, ARCHIVE_MARK)
    fields = backup or archive
    return BackupVolume(
        volid=str(item["volid"]),
        storage=storage,
        vmid=int(item["vmid"]) if item.get("vmid") is not None else None,
        ctime=int(item.get("ctime", 0)),
        size=int(item.get("size", 0)),
        notes=notes,
        protected=bool(int(item.get("protected", 0) or 0)),
        kind="backup" if backup else "archive" if archive else "other",
        tenant=fields["tenant"] if fields else None,
    )


def backup_now(
    api: ProxmoxAPI,
    servers: Sequence[ServerRef],
    storage: str,
    env: str,
    slug: str,
    *,
    on_progress: Progress | None = None,
    timeout: float = BACKUP_TIMEOUT,
) -> list[BackupVolume]:
    """Back up ``servers`` now (snapshot mode: they keep running), one vzdump task per node, the nodes in
    parallel; return the new backups."""
    ids = {s.vmid for s in servers}
    before = {b.volid for b in list_backups(api, [storage], servers[0].node, env, slug, ids)}
    by_node: dict[str, list[int]] = {}
    for server in servers:
        by_node.setdefault(server.node, []).append(server.vmid)
    started = {  # one task per node, all nodes at once
        node: api.nodes(node).vzdump.post(
            vmid=",".join(map(str, vmids)),
            storage=storage,
            mode="snapshot",
            compress="zstd",
            **{"notes-template": backup_notes_template(env, slug)},
        )
        for node, vmids in sorted(by_node.items())
    }
    for node, upid in started.items():
        wait_task(
            api, upid, timeout=timeout, what=f"backup of VM(s) {by_node[node]} on {node}", on_progress=on_progress
        )
    return [
        b
        for b in list_backups(api, [storage], servers[0].node, env, slug, ids)
        if b.kind == "backup" and b.vmid in ids and b.volid not in before
    ]


def wait_unlocked(api: ProxmoxAPI, server: ServerRef, locks: tuple[str, ...], wait: float = LOCK_WAIT) -> None:
    """Wait while the VM holds one of ``locks`` (a task of a run that died goes on in Proxmox)."""
    deadline = time.monotonic() + wait
    while server.guest(api).config.get().get("lock") in locks:
        if time.monotonic() > deadline:
            raise TimeoutError(f"VM {server.vmid} stayed locked ({'/'.join(locks)}) for {wait:.0f} s")
        time.sleep(LOCK_POLL)


def volume_path(volid: str) -> str:
    """A volume id as one URL path segment: backup volids hold a ``/``, which PVE's router would split."""
    return urllib.parse.quote(volid, safe="")


def set_protected(api: ProxmoxAPI, node: str, volid: str, protected: bool) -> None:
    """Protect a backup from pruning and deletion, or lift the protection."""
    storage = volid.split(":", 1)[0]
    api.nodes(node).storage(storage).content(volume_path(volid)).put(protected=int(protected))


def restore_into(
    api: ProxmoxAPI,
    server: ServerRef,
    backup: BackupVolume,
    *,
    stop: bool,
    start: bool = True,
    new_identity: bool = False,
    on_progress: Progress | None = None,
    timeout: float = RESTORE_TIMEOUT,
) -> None:
    """Overwrite ``server``'s disks (and config) with ``backup``'s; start it again when ``start``.

    Refuses a running server unless ``stop``: a restore replaces every disk, so whatever the server wrote
    since the backup is lost. ``new_identity`` gives the restored VM new MAC addresses (PVE's ``unique``),
    for a backup of another server.
    """
    if server.kind != "qemu":  # PVE restores a container through POST /lxc (restore=1), which we do not drive
        raise RestoreRefused(
            f"server {server.index} ({server.kind} {server.vmid}) is a container: restoring containers is not "
            "supported; see docs/platform/lxc.md"
        )
    vm = api.nodes(server.node).qemu(server.vmid)
    wait_unlocked(api, server, ("backup", "create"))  # a dead attempt's backup or restore still running
    if vm.status.current.get().get("status") == "running":
        if not stop:
            raise RestoreRefused(
                f"server {server.index} (VM {server.vmid}) is running: a restore replaces its disks, losing "
                "everything written since the backup; stop it first or pass --stop to have it stopped"
            )
        wait_task(api, vm.status.stop.post(), timeout=POWER_TIMEOUT, what=f"stop of VM {server.vmid}")
    params: dict[str, Any] = {"vmid": server.vmid, "archive": backup.volid, "force": 1}
    if new_identity:
        params["unique"] = 1
    upid = api.nodes(server.node).qemu.post(**params)
    wait_task(
        api, upid, timeout=timeout, what=f"restore of VM {server.vmid} from {backup.volid}", on_progress=on_progress
    )
    if start:
        wait_task(api, vm.status.start.post(), timeout=POWER_TIMEOUT, what=f"start of VM {server.vmid}")
