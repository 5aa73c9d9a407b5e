"""Handlers of /nodes/{node}/lxc and /nodes/{node}/lxc/{vmid}/…: handler-level checks, then the backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import exceptions as E
from . import perms
from . import propstr as P
from . import responses_vm as V
from .perms_lxc import check_ct_keys
from .responses import Ctx, _list

META = {"node", "vmid", "digest", "delete", "revert", "force", "skiplock"}
CREATE_PARAMS = {"ostemplate", "ssh-public-keys", "pool", "start", "password", "storage", "unprivileged", "restore"}
"""Parameters pve-container's create extracts before the per-key config check."""


def ct_list(ctx: Ctx) -> Any:
    b = ctx.backend
    b.node(ctx.node)
    return [
        {k: v for k, v in b.ct_status(ct.node, ct.vmid).items() if k != "ha"}
        for ct in b.vms.values()
        if ct.kind == "lxc" and ct.node == ctx.node and ctx.can(f"/vms/{ct.vmid}", ["VM.Audit"])
    ]


def create(ctx: Ctx) -> Any:
    """POST /nodes/{node}/lxc: VM.Allocate on the VMID or the pool, space on the rootfs storage, access to
    the template archive, then the per-key checks."""
    p, b = ctx.params, ctx.backend
    vmid, pool = ctx.vmid, p.get("pool")
    if ctx.authid != "root@pam":
        if pool:
            perms.require(b.access, ctx.authid, f"/pool/{pool}", ["VM.Allocate"])
        else:
            perms.require(b.access, ctx.authid, f"/vms/{vmid}", ["VM.Allocate"])
        template_sid = P.volume_storage(str(p["ostemplate"]))
        if template_sid:
            privs = ["Datastore.AllocateSpace", "Datastore.Audit"]
            perms.require(b.access, ctx.authid, f"/storage/{template_sid}", privs, True)
        keys = {k: v for k, v in p.items() if k not in META | CREATE_PARAMS}
        check_ct_keys(b.access, ctx.authid, vmid, keys, [], {"unprivileged": p.get("unprivileged", 0)}, pool)
    return b.ct_create(ctx.node, vmid, p, ctx.authid)


def config_get(ctx: Ctx) -> Any:
    return ctx.backend.ct_config(ctx.node, ctx.vmid, bool(ctx.params.get("current")))


def pending_get(ctx: Ctx) -> Any:
    return ctx.backend.ct_pending(ctx.node, ctx.vmid)


def config_put(ctx: Ctx) -> Any:
    p, b = ctx.params, ctx.backend
    values = {k: v for k, v in p.items() if k not in META}
    deletes = _list(p.get("delete"))
    ct = b.ct(ctx.node, ctx.vmid)
    check_ct_keys(b.access, ctx.authid, ctx.vmid, values, deletes, ct.config)
    b.ct_update_config(ctx.node, ctx.vmid, values, deletes, p.get("digest"), _list(p.get("revert")))
    return None


def clone(ctx: Ctx) -> Any:
    p, b = ctx.params, ctx.backend
    src = b.ct(ctx.node, ctx.vmid)
    if ctx.authid != "root@pam":
        if p.get("storage"):
            perms.require(b.access, ctx.authid, f"/storage/{p['storage']}", ["Datastore.AllocateSpace"])
        for key, value in src.config.items():
            if key.startswith("net") and key[3:].isdigit():
                bridge = P.parse(str(value)).get("bridge")
                if bridge:
                    perms.require(b.access, ctx.authid, f"/sdn/zones/localnetwork/{bridge}", ["SDN.Use"])
    full = p.get("full")
    return b.ct_clone(
        ctx.node,
        ctx.vmid,
        int(p["newid"]),
        ctx.authid,
        p.get("hostname"),
        None if full is None else bool(full),
        p.get("pool"),
        p.get("storage"),
        p.get("target"),
        p.get("description"),
    )


def template(ctx: Ctx) -> Any:
    return ctx.backend.ct_template(ctx.node, ctx.vmid, ctx.authid)


def resize(ctx: Ctx) -> Any:
    b = ctx.backend
    mount = b.ct(ctx.node, ctx.vmid).config.get(ctx.params["disk"])
    sid = P.volume_storage(P.parse(str(mount), "volume").get("volume", "")) if mount else None
    if sid:
        perms.require(b.access, ctx.authid, f"/storage/{sid}", ["Datastore.AllocateSpace"])
    return b.ct_resize(ctx.node, ctx.vmid, ctx.params["disk"], ctx.params["size"], ctx.authid)


def ct_index(ctx: Ctx) -> Any:
    ctx.backend.ct(ctx.node, ctx.vmid)
    subdirs = ("config", "pending", "status", "interfaces", "firewall", "clone", "resize", "migrate", "snapshot")
    return [{"subdir": s} for s in subdirs]


def status_index(ctx: Ctx) -> Any:
    ctx.backend.ct(ctx.node, ctx.vmid)
    return [{"subdir": s} for s in ("current", "start", "stop", "shutdown", "reboot", "suspend", "resume")]


def status_current(ctx: Ctx) -> Any:
    return ctx.backend.ct_status(ctx.node, ctx.vmid)


def power(action: str) -> Callable[[Ctx], Any]:
    def handler(ctx: Ctx) -> Any:
        if ctx.params.get("skiplock") and ctx.authid != "root@pam":
            raise E.param_error("skiplock", "Only root may use this option.")
        return ctx.backend.ct_power(ctx.node, ctx.vmid, action, ctx.authid)

    return handler


def interfaces(ctx: Ctx) -> Any:
    return ctx.backend.ct_interfaces(ctx.node, ctx.vmid)


def destroy(ctx: Ctx) -> Any:
    return ctx.backend.ct_destroy(ctx.node, ctx.vmid, ctx.authid, bool(ctx.params.get("force")))


def migrate(ctx: Ctx) -> Any:
    p = ctx.params
    return ctx.backend.ct_migrate(ctx.node, ctx.vmid, p["target"], ctx.authid, bool(p.get("restart")))


def firewall(handler: Callable[[Ctx], Any]) -> Callable[[Ctx], Any]:
    """A VM firewall handler serving the CT's firewall (same files, same semantics in PVE)."""

    def wrapped(ctx: Ctx) -> Any:
        ctx.backend.ct(ctx.node, ctx.vmid)
        ctx.params[V.GUEST_KIND] = "lxc"
        return handler(ctx)

    return wrapped
