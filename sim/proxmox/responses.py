"""Handlers: parse typed params, run handler-level permission checks, call the backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import exceptions as E
from . import perms
from . import propstr as P
from .backend import Backend
from .extras import VERSION


@dataclass
class Ctx:
    """One request after auth and validation."""

    backend: Backend
    authid: str
    params: dict[str, Any]
    ticket_auth: bool = False

    @property
    def node(self) -> str:
        return str(self.params["node"])

    @property
    def vmid(self) -> int:
        return int(self.params["vmid"])

    def can(self, path: str, privs: list[str], any_: bool = False) -> bool:
        if self.authid == "root@pam":
            return True
        authid = self.authid
        return self.backend.access.decide(
            authid, "filter", lambda acc: acc.held(authid, path, privs, any_), f"{path} {'|'.join(privs)}"
        )[0]


def _list(value: Any) -> list[str]:
    return [v for v in str(value or "").replace(";", ",").split(",") if v]


# --- cluster and nodes ---------------------------------------------------------------------------
def version(ctx: Ctx) -> Any:
    return dict(VERSION)


def nextid(ctx: Ctx) -> Any:
    return ctx.backend.nextid(ctx.params.get("vmid"))


def cluster_resources(ctx: Ctx) -> Any:
    out = []
    for item in ctx.backend.cluster_resources(ctx.params.get("type")):
        kind = item["type"]
        if kind in ("qemu", "lxc") and not ctx.can(f"/vms/{item['vmid']}", ["VM.Audit"]):
            continue
        if kind == "storage" and not ctx.can(f"/storage/{item['storage']}", ["Datastore.Audit"]):
            continue
        if kind == "pool" and not ctx.can(f"/pool/{item['pool']}", ["Pool.Audit"]):
            continue
        if kind == "node" and not ctx.can(f"/nodes/{item['node']}", ["Sys.Audit"]):
            item = {k: item[k] for k in ("id", "type", "node", "status")}
        out.append(item)
    return out


def nodes(ctx: Ctx) -> Any:
    out = []
    for name in sorted(ctx.backend.nodes):
        entry = ctx.backend.node_entry(name)
        if not ctx.can(f"/nodes/{name}", ["Sys.Audit"]):
            entry = {k: entry[k] for k in ("node", "status", "type", "id", "ssl_fingerprint")}
        out.append(entry)
    return out


def node_status(ctx: Ctx) -> Any:
    return ctx.backend.node_status(ctx.node)


def _storage_config(ctx: Ctx, sid: str, digest: str) -> dict[str, Any]:
    """One entry of storage.cfg as ``/storage`` lists it (``digest`` is of the whole file)."""
    s = ctx.backend.storages[sid]
    return {
        "storage": s.sid,
        "type": s.type,
        "content": ",".join(s.content),
        "shared": int(s.shared),
        "digest": digest,
        **({"path": s.path} if s.path else {}),
        **({"nodes": ",".join(sorted(s.nodes))} if s.nodes else {}),
    }


def storage_index(ctx: Ctx) -> Any:
    digest = ctx.backend.storage_digest()
    return [
        _storage_config(ctx, sid, digest)
        for sid in ctx.backend.storages
        if ctx.can(f"/storage/{sid}", ["Datastore.Audit", "Datastore.AllocateSpace"], True)
    ]


def storage_upload(ctx: Ctx) -> Any:
    """POST /nodes/{node}/storage/{storage}/upload (multipart; the schema checks Datastore.AllocateTemplate)."""
    p = ctx.params
    if not p.get("tmpfilename"):
        raise E.param_error("tmpfilename", "upload the file as multipart/form-data")
    return ctx.backend.upload(
        ctx.node,
        str(p["storage"]),
        str(p["content"]),
        str(p["filename"]),
        str(p["tmpfilename"]),
        ctx.authid,
        p.get("checksum"),
        p.get("checksum-algorithm"),
    )


def storage_create(ctx: Ctx) -> Any:
    return ctx.backend.storage_create(ctx.params)


def storage_update(ctx: Ctx) -> Any:
    return ctx.backend.storage_update(str(ctx.params["storage"]), ctx.params)


def storage_delete(ctx: Ctx) -> Any:
    ctx.backend.storage_delete(str(ctx.params["storage"]))


def volume_delete(ctx: Ctx) -> Any:
    """DELETE …/content/{volume}: Datastore.Allocate on the storage, or for a backup of a VM the caller
    may back up, Datastore.AllocateSpace."""
    b, sid, volume = ctx.backend, str(ctx.params["storage"]), str(ctx.params["volume"])
    owner = b.volume_owner(ctx.node, sid, volume)
    if (
        owner is not None
        and owner[0] == "backup"
        and owner[1] is not None
        and ctx.can(f"/vms/{owner[1]}", ["VM.Backup"])
    ):
        perms.require(b.access, ctx.authid, f"/storage/{sid}", ["Datastore.AllocateSpace"])
    else:
        perms.require(b.access, ctx.authid, f"/storage/{sid}", ["Datastore.Allocate"])
    return b.volume_delete(ctx.node, sid, volume, ctx.authid)


def storage_get(ctx: Ctx) -> Any:
    """GET /storage/{storage}: its configuration (the schema checks Datastore.Allocate on it)."""
    sid = str(ctx.params["storage"])
    if sid not in ctx.backend.storages:
        raise E.HandlerError(f"storage '{sid}' does not exist")
    return _storage_config(ctx, sid, ctx.backend.storage_digest())


def node_storage(ctx: Ctx) -> Any:
    b = ctx.backend
    out = []
    for s in b.storages.values():
        if not s.on(ctx.node) or not ctx.can(f"/storage/{s.sid}", ["Datastore.Audit", "Datastore.AllocateSpace"], True):
            continue
        if ctx.params.get("content") and ctx.params["content"] not in s.content:
            continue
        out.append(b.storage_status(ctx.node, s.sid))
    return out


def storage_status(ctx: Ctx) -> Any:
    return ctx.backend.storage_status(ctx.node, ctx.params["storage"])


def storage_content(ctx: Ctx) -> Any:
    items = ctx.backend.storage_content(
        ctx.node, ctx.params["storage"], ctx.params.get("content"), ctx.params.get("vmid")
    )
    return [
        i
        for i in items
        if "vmid" not in i
        or ctx.can(f"/vms/{i['vmid']}", ["VM.Audit"])
        or ctx.can(f"/storage/{ctx.params['storage']}", ["Datastore.Allocate"])
    ]


def volume_info(ctx: Ctx) -> Any:
    sid, volid = ctx.params.get("storage", ""), ctx.params["volume"]
    sid = P.volume_storage(volid) or sid
    vol = ctx.backend.volumes.get(ctx.backend.vol_key(volid if ":" in volid else f"{sid}:{volid}", ctx.node))
    if vol is not None and vol.vmid is not None and vol.content == "images":
        perms.require(ctx.backend.access, ctx.authid, f"/storage/{sid}", ["Datastore.Audit"])
        if not ctx.can(f"/storage/{sid}", ["Datastore.Allocate"]):
            perms.require(ctx.backend.access, ctx.authid, f"/vms/{vol.vmid}", ["VM.Config.Disk"])
    else:
        perms.require(
            ctx.backend.access, ctx.authid, f"/storage/{sid}", ["Datastore.Audit", "Datastore.AllocateSpace"], True
        )
    return ctx.backend.volume_info(ctx.node, sid, volid)


# --- pools -------------------------------------------------------------------------------------
def pools_get(ctx: Ctx) -> Any:
    b = ctx.backend
    if ctx.params.get("poolid"):
        return [b.pool_get(ctx.params["poolid"])]
    return [
        {"poolid": p.poolid, "comment": p.comment}
        for p in b.pools.values()
        if ctx.can(f"/pool/{p.poolid}", ["Pool.Audit"])
    ]


def pool_get_legacy(ctx: Ctx) -> Any:
    data = ctx.backend.pool_get(ctx.params["poolid"])
    return {"comment": data["comment"], "members": data["members"]}


def pools_create(ctx: Ctx) -> Any:
    ctx.backend.pool_create(ctx.params["poolid"], ctx.params.get("comment", ""))


def pools_update(ctx: Ctx) -> Any:
    p = ctx.params
    for vmid in _list(p.get("vms")):
        perms.require(ctx.backend.access, ctx.authid, f"/vms/{vmid}", ["VM.Allocate"])
    ctx.backend.pool_update(
        p["poolid"],
        [int(v) for v in _list(p.get("vms"))],
        _list(p.get("storage")),
        bool(p.get("delete")),
        bool(p.get("allow-move")),
        p.get("comment"),
    )


def pools_delete(ctx: Ctx) -> Any:
    ctx.backend.pool_delete(ctx.params["poolid"])


# --- tasks -------------------------------------------------------------------------------------
def _task_visible(ctx: Ctx, user: str, node: str | None = None) -> bool:
    """A token sees its own tasks, a user its own and its tokens'; Sys.Audit on the node shows all."""
    me = ctx.authid.split("!")[0]
    return (
        user == ctx.authid
        or (user.split("!")[0] == me and "!" not in ctx.authid)
        or ctx.can(f"/nodes/{node or ctx.node}", ["Sys.Audit"])
    )


def tasks_list(ctx: Ctx) -> Any:
    p = ctx.params
    items = ctx.backend.task_list(ctx.node, p.get("vmid"), p.get("typefilter"), p.get("source", "archive"))
    items = [t for t in items if _task_visible(ctx, t["user"] + (f"!{t['tokenid']}" if "tokenid" in t else ""))]
    start, limit = int(p.get("start", 0)), int(p.get("limit", 50))
    return items[start : start + limit]


def _task(ctx: Ctx) -> Any:
    from .tasks import parse_upid

    upid = ctx.params["upid"]
    if parse_upid(upid) is None:
        raise E.param_error("upid", "unable to parse worker upid")
    task = ctx.backend.task(ctx.node, upid)
    if not _task_visible(ctx, task.user):
        raise E.PermissionDenied(f"/nodes/{ctx.node}, Sys.Audit")
    return task


def task_status(ctx: Ctx) -> Any:
    with ctx.backend.lock:
        ctx.backend.tick()
        return _task(ctx).status_json()


def task_log(ctx: Ctx) -> Any:
    _task(ctx)
    lines, total = ctx.backend.task_log(
        ctx.node, ctx.params["upid"], int(ctx.params.get("start", 0)), int(ctx.params.get("limit", 50))
    )
    return lines, total


def task_stop(ctx: Ctx) -> Any:
    task = _task(ctx)
    with ctx.backend.lock:
        if task.status == "running":
            task.fail("unexpected status", ctx.backend.clock())
