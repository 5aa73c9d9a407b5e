"""Handlers of backups: jobs (/cluster/backup), vzdump, restore, prune, backup volume attributes and
the guest-agent file calls that put data on a VM's disk."""

from __future__ import annotations

from typing import Any

from . import exceptions as E
from . import perms, prune
from . import propstr as P
from .responses import Ctx, _list

JOB_META = {"id", "delete", "digest"}
ROOT_ONLY = ("tmpdir", "dumpdir", "script")


def _root_only(ctx: Ctx) -> None:
    for key in ROOT_ONLY:
        if ctx.params.get(key) and ctx.authid != "root@pam":
            raise E.param_error(key, "Only root may set this option.")


def _selection_permissions(ctx: Ctx) -> None:
    """What PVE's backup API checks beyond the schema: the pool's VM.Backup for pool jobs."""
    b, pool = ctx.backend, ctx.params.get("pool")
    if pool:
        if pool not in b.pools:
            raise E.param_error("pool", f"pool '{pool}' does not exist")
        perms.require(b.access, ctx.authid, f"/pool/{pool}", ["VM.Backup"])


def jobs_list(ctx: Ctx) -> Any:
    return ctx.backend.job_list()


def job_create(ctx: Ctx) -> Any:
    _root_only(ctx)
    _selection_permissions(ctx)
    ctx.backend.job_create({k: v for k, v in ctx.params.items() if k not in JOB_META or k == "id"})


def job_get(ctx: Ctx) -> Any:
    return ctx.backend.job_get(str(ctx.params["id"]))


def job_update(ctx: Ctx) -> Any:
    _root_only(ctx)
    _selection_permissions(ctx)
    params = {k: v for k, v in ctx.params.items() if k not in JOB_META}
    ctx.backend.job_update(str(ctx.params["id"]), params, _list(ctx.params.get("delete")))


def job_delete(ctx: Ctx) -> Any:
    ctx.backend.job_delete(str(ctx.params["id"]))


def not_backed_up(ctx: Ctx) -> Any:
    """GET /cluster/backup-info/not-backed-up: guests no enabled job selects."""
    b = ctx.backend
    covered: set[int] = set()
    for job in b.jobs.values():
        if not int(job.get("enabled", 1) or 0):
            continue
        if job.get("all"):
            excluded = {int(v) for v in _list(job.get("exclude"))}
            covered |= {v for v in b.vms if v not in excluded}
        elif job.get("pool") in b.pools:
            covered |= set(b.pools[job["pool"]].vms)
        else:
            covered |= {int(v) for v in _list(job.get("vmid"))}
    return [
        {"vmid": vm.vmid, "type": vm.kind, "name": str(vm.config.get("hostname" if vm.kind == "lxc" else "name", ""))}
        for vm in sorted(b.vms.values(), key=lambda v: v.vmid)
        if vm.vmid not in covered
    ]


def vzdump(ctx: Ctx) -> Any:
    p, b = ctx.params, ctx.backend
    _root_only(ctx)
    for key in ("job-id",):
        if p.get(key) and ctx.authid != "root@pam":
            raise E.param_error(key, "Only root may set this option.")
    if p.get("all"):
        vmids = [v.vmid for v in b.vms.values() if v.node == ctx.node and not v.is_template]
    elif p.get("pool"):
        _selection_permissions(ctx)
        vmids = list(b.pools[p["pool"]].vms)
    else:
        vmids = [int(v) for v in _list(p.get("vmid"))]
    if not vmids and not p.get("all"):
        raise E.HandlerError("you need to specify the vmid, all or pool")
    storage = p.get("storage", "local")
    for vmid in vmids:
        perms.require(b.access, ctx.authid, f"/vms/{vmid}", ["VM.Backup"])
    perms.require(b.access, ctx.authid, f"/storage/{storage}", ["Datastore.AllocateSpace"])
    if p.get("prune-backups"):
        try:
            prune.parse_keep(p["prune-backups"])
        except prune.PruneOptionError as exc:
            raise E.param_error("prune-backups", str(exc)) from None
        # Overriding the storage's retention needs the right to remove any of its backups.
        perms.require(b.access, ctx.authid, f"/storage/{storage}", ["Datastore.Allocate"])
    options: dict[str, Any] = {
        k: p[k] for k in ("mode", "compress", "notes-template", "protected", "prune-backups", "remove") if k in p
    }
    return b.vzdump(ctx.node, vmids, storage, ctx.authid, options)


def restore(ctx: Ctx) -> Any:
    """POST /nodes/{node}/qemu with ``archive``: PVE's permission rules for restores, then the task."""
    p, b = ctx.params, ctx.backend
    if not p.get("archive"):
        # A plain create is modelled only as far as PVE's own first refusal: an id in use ("config file already
        # exists", what bpg's create of a VM that already exists meets and treats as done on its retry).
        vmid = int(p["vmid"])
        target = f"/pool/{p['pool']}" if p.get("pool") else f"/vms/{vmid}"
        perms.require(b.access, ctx.authid, target, ["VM.Allocate"])
        if vmid in b.vms:
            raise E.HandlerError(f"unable to create VM {vmid}: config file already exists")
        raise E.HandlerError("simulator: only restore (archive=) is supported by POST /nodes/{node}/qemu")
    vmid, archive = int(p["vmid"]), str(p["archive"])
    if vmid in b.vms:
        if not p.get("force"):
            raise E.HandlerError(f"unable to restore VM {vmid} - VM {vmid} already exists on node '{b.vms[vmid].node}'")
        perms.require(b.access, ctx.authid, f"/vms/{vmid}", ["VM.Backup"])
    elif p.get("pool"):
        perms.require(b.access, ctx.authid, f"/pool/{p['pool']}", ["VM.Allocate"])
    else:
        perms.require(b.access, ctx.authid, f"/vms/{vmid}", ["VM.Allocate"])
    sid = P.volume_storage(archive)
    if sid:
        owner = b.volume_owner(ctx.node, sid, archive)
        perms.require_volume_access(b.access, ctx.authid, sid, owner[:2] if owner else None, vmid)
    if p.get("storage"):
        perms.require(b.access, ctx.authid, f"/storage/{p['storage']}", ["Datastore.AllocateSpace"])
    return b.restore(
        ctx.node,
        vmid,
        archive,
        ctx.authid,
        p.get("storage"),
        bool(p.get("force")),
        bool(p.get("unique")),
        p.get("pool"),
    )


def volume_update(ctx: Ctx) -> Any:
    """PUT …/content/{volume}: notes and protection, for who may read the volume (check_volume_access)."""
    b, sid, volume = ctx.backend, str(ctx.params["storage"]), str(ctx.params["volume"])
    owner = b.volume_owner(ctx.node, sid, volume)
    if owner is None:
        raise E.HandlerError(f"volume '{volume}' does not exist")
    perms.require_volume_access(b.access, ctx.authid, sid, owner[:2], None)
    protected = ctx.params.get("protected")
    b.volume_attributes(
        ctx.node, sid, volume, ctx.params.get("notes"), None if protected is None else bool(int(protected))
    )


def _keep(ctx: Ctx) -> dict[str, int]:
    try:
        return prune.parse_keep(ctx.params.get("prune-backups"))
    except prune.PruneOptionError as exc:
        raise E.param_error("prune-backups", str(exc)) from None


def prune_get(ctx: Ctx) -> Any:
    vmid = ctx.params.get("vmid")
    return ctx.backend.prune_marks(
        str(ctx.params["storage"]), ctx.node, None if vmid is None else int(vmid), _keep(ctx)
    )


def prune_delete(ctx: Ctx) -> Any:
    b, sid, vmid = ctx.backend, str(ctx.params["storage"]), ctx.params.get("vmid")
    if vmid is not None:
        perms.require(b.access, ctx.authid, f"/storage/{sid}", ["Datastore.AllocateSpace"])
        perms.require(b.access, ctx.authid, f"/vms/{vmid}", ["VM.Backup"])
    else:
        perms.require(b.access, ctx.authid, f"/storage/{sid}", ["Datastore.Allocate"])
    return b.prune_now(sid, ctx.node, None if vmid is None else int(vmid), _keep(ctx), ctx.authid)


def file_write(ctx: Ctx) -> Any:
    p = ctx.params
    encode = bool(int(p.get("encode", 1)))
    ctx.backend.guest_file_write(ctx.node, ctx.vmid, str(p["file"]), str(p["content"]), encode)


def file_read(ctx: Ctx) -> Any:
    return ctx.backend.guest_file_read(ctx.node, ctx.vmid, str(ctx.params["file"]))
