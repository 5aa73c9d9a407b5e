"""Handlers of /nodes/{node}/qemu/{vmid}/… and vzdump/restore."""

from __future__ import annotations

from typing import Any

from . import exceptions as E
from . import perms
from . import propstr as P
from .responses import Ctx, _list

GUEST_KIND = "_guest_kind"
"""Set by the /lxc firewall routes (which share these handlers): the guest is a container."""
META = {"node", "vmid", "digest", "delete", "revert", "skiplock", "force", "background_delay", GUEST_KIND}


def vm_list(ctx: Ctx) -> Any:
    b = ctx.backend
    b.node(ctx.node)
    return [
        {k: v for k, v in b.status_current(vm.node, vm.vmid).items() if k != "ha"}
        for vm in b.vms.values()
        if vm.kind == "qemu" and vm.node == ctx.node and ctx.can(f"/vms/{vm.vmid}", ["VM.Audit"])
    ]


def vm_index(ctx: Ctx) -> Any:
    ctx.backend.vm(ctx.node, ctx.vmid)
    return [{"subdir": s} for s in ("config", "pending", "status", "agent", "firewall", "clone", "resize")]


def config_get(ctx: Ctx) -> Any:
    return ctx.backend.get_config(ctx.node, ctx.vmid, bool(ctx.params.get("current")))


def pending_get(ctx: Ctx) -> Any:
    return ctx.backend.get_pending(ctx.node, ctx.vmid)


def cloudinit_get(ctx: Ctx) -> Any:
    return ctx.backend.cloudinit_pending(ctx.node, ctx.vmid)


def cloudinit_put(ctx: Ctx) -> Any:
    ctx.backend.regenerate_cloudinit(ctx.node, ctx.vmid)


def _config_write(ctx: Ctx) -> None:
    p, b = ctx.params, ctx.backend
    if p.get("skiplock") and ctx.authid != "root@pam":
        raise E.param_error("skiplock", "Only root may use this option.")
    values = {k: v for k, v in p.items() if k not in META}
    deletes = _list(p.get("delete"))
    current = b.vm(ctx.node, ctx.vmid).config
    perms.check_config_keys(b.access, ctx.authid, ctx.vmid, values, deletes, current)
    b.update_config(
        ctx.node, ctx.vmid, values, deletes, p.get("digest"), _list(p.get("revert")), bool(p.get("skiplock"))
    )


def config_put(ctx: Ctx) -> Any:
    _config_write(ctx)
    return None


def config_post(ctx: Ctx) -> Any:
    _config_write(ctx)
    return ctx.backend.start_task(ctx.node, "qmconfig", str(ctx.vmid), ctx.authid, 0.0, None)


def resize(ctx: Ctx) -> Any:
    b = ctx.backend
    drive = b.vm(ctx.node, ctx.vmid).config.get(ctx.params["disk"])
    sid = P.volume_storage(P.parse_drive(str(drive)).get("file", "")) if drive else None
    if sid:
        perms.require(b.access, ctx.authid, f"/storage/{sid}", ["Datastore.AllocateSpace"])
    return b.resize(ctx.node, ctx.vmid, ctx.params["disk"], ctx.params["size"], ctx.authid)


def clone(ctx: Ctx) -> Any:
    p, b = ctx.params, ctx.backend
    src = b.vms.get(ctx.vmid)
    if src is not None and src.node == ctx.node and ctx.authid != "root@pam":
        targets = (
            {p["storage"]}
            if p.get("storage")
            else {sid for d in b.disks(src).values() if (sid := P.volume_storage(d["file"])) is not None}
        )
        for sid in sorted(targets):
            perms.require(b.access, ctx.authid, f"/storage/{sid}", ["Datastore.AllocateSpace"])
        for key, value in src.config.items():
            if key.startswith("net") and key[3:].isdigit():
                bridge = P.parse_net(str(value)).get("bridge")
                if bridge:
                    perms.require(b.access, ctx.authid, f"/sdn/zones/localnetwork/{bridge}", ["SDN.Use"])
    full = p.get("full")
    return b.clone(
        ctx.node,
        ctx.vmid,
        int(p["newid"]),
        ctx.authid,
        p.get("name"),
        None if full is None else bool(full),
        p.get("pool"),
        p.get("storage"),
        p.get("target"),
        p.get("description"),
        p.get("snapname"),
    )


def status_index(ctx: Ctx) -> Any:
    ctx.backend.vm(ctx.node, ctx.vmid)
    return [{"subdir": s} for s in ("current", "start", "stop", "reset", "shutdown", "suspend", "reboot", "resume")]


def status_current(ctx: Ctx) -> Any:
    return ctx.backend.status_current(ctx.node, ctx.vmid)


def _power(action: str) -> Any:
    def handler(ctx: Ctx) -> Any:
        for key in ("skiplock", "migratedfrom", "stateuri", "keepActive", "nocheck"):
            if ctx.params.get(key) and ctx.authid != "root@pam":
                raise E.param_error(key, "Only root may use this option.")
        b = ctx.backend
        if action == "shutdown":
            return b.shutdown(ctx.node, ctx.vmid, ctx.authid, bool(ctx.params.get("forceStop")))
        if action == "suspend":
            return b.suspend(ctx.node, ctx.vmid, ctx.authid, bool(ctx.params.get("todisk")))
        return getattr(b, action)(ctx.node, ctx.vmid, ctx.authid)

    return handler


def destroy(ctx: Ctx) -> Any:
    if ctx.params.get("skiplock") and ctx.authid != "root@pam":
        raise E.param_error("skiplock", "Only root may use this option.")
    return ctx.backend.destroy(ctx.node, ctx.vmid, ctx.authid, bool(ctx.params.get("purge")))


def template(ctx: Ctx) -> Any:
    return ctx.backend.template(ctx.node, ctx.vmid, ctx.authid)


def migrate_get(ctx: Ctx) -> Any:
    b = ctx.backend
    vm = b.vm(ctx.node, ctx.vmid)
    local = b.uses_local_storage(vm)
    return {
        "running": int(vm.status == "running"),
        "allowed_nodes": [n for n in b.nodes if n != ctx.node],
        "not_allowed_nodes": {},
        "local_disks": [{"volid": d["file"]} for d in b.disks(vm).values()] if local else [],
        "local_resources": [],
    }


def migrate(ctx: Ctx) -> Any:
    p = ctx.params
    if p.get("targetstorage"):
        perms.require(ctx.backend.access, ctx.authid, f"/storage/{p['targetstorage']}", ["Datastore.AllocateSpace"])
    return ctx.backend.migrate(
        ctx.node,
        ctx.vmid,
        p["target"],
        ctx.authid,
        bool(p.get("online")),
        bool(p.get("with-local-disks")),
        p.get("targetstorage"),
    )


def agent(command: str) -> Any:
    def handler(ctx: Ctx) -> Any:
        return ctx.backend.agent(ctx.node, ctx.vmid, command)

    return handler


# --- firewall ----------------------------------------------------------------------------------
def _fw(ctx: Ctx) -> dict[str, Any]:
    return ctx.backend.firewall(ctx.node, ctx.vmid, str(ctx.params.get(GUEST_KIND, "qemu")))


def fw_options_get(ctx: Ctx) -> Any:
    return dict(_fw(ctx)["options"])


def fw_options_put(ctx: Ctx) -> Any:
    fw = _fw(ctx)
    for key, value in ctx.params.items():
        if key not in META:
            fw["options"][key] = value
    for key in _list(ctx.params.get("delete")):
        fw["options"].pop(key, None)


def fw_rules_get(ctx: Ctx) -> Any:
    return [dict(r, pos=i) for i, r in enumerate(_fw(ctx)["rules"])]


def fw_rules_post(ctx: Ctx) -> Any:
    rules = _fw(ctx)["rules"]
    rule = {k: v for k, v in ctx.params.items() if k not in META and k != "pos"}
    rule.setdefault("enable", 0)
    pos = int(ctx.params.get("pos", 0))
    rules.insert(max(0, min(pos, len(rules))), rule)


def _rule(ctx: Ctx) -> tuple[list[dict[str, Any]], int]:
    rules = _fw(ctx)["rules"]
    pos = int(ctx.params["pos"])
    if pos >= len(rules):
        raise E.HandlerError("no rule at position " + str(pos))
    return rules, pos


def fw_rule_get(ctx: Ctx) -> Any:
    rules, pos = _rule(ctx)
    # PVE echoes the path parameter, a Perl string, so one rule's "pos" is a JSON string (bpg decodes it so).
    return dict(rules[pos], pos=str(pos))


def fw_rule_put(ctx: Ctx) -> Any:
    rules, pos = _rule(ctx)
    rules[pos].update({k: v for k, v in ctx.params.items() if k not in META and k not in ("pos", "moveto")})
    for key in _list(ctx.params.get("delete")):
        rules[pos].pop(key, None)


def fw_rule_delete(ctx: Ctx) -> Any:
    rules, pos = _rule(ctx)
    rules.pop(pos)


def fw_ipsets_get(ctx: Ctx) -> Any:
    sets = _fw(ctx)["ipsets"]
    return [{"name": n, "comment": s.get("comment", ""), "digest": "0" * 40} for n, s in sets.items()]


def fw_ipset_create(ctx: Ctx) -> Any:
    sets = _fw(ctx)["ipsets"]
    name = ctx.params["name"]
    if name in sets and not ctx.params.get("rename"):
        raise E.HandlerError(f"IPSet '{name}' already exists")
    sets[name] = {"comment": ctx.params.get("comment", ""), "entries": []}


def _ipset(ctx: Ctx) -> dict[str, Any]:
    sets = _fw(ctx)["ipsets"]
    if ctx.params["name"] not in sets:
        raise E.HandlerError(f"no such IPSet '{ctx.params['name']}'")
    return sets[ctx.params["name"]]


def fw_ipset_get(ctx: Ctx) -> Any:
    return list(_ipset(ctx)["entries"])


def fw_ipset_add(ctx: Ctx) -> Any:
    entry = {"cidr": ctx.params["cidr"], "nomatch": ctx.params.get("nomatch", 0)}
    if ctx.params.get("comment"):
        entry["comment"] = ctx.params["comment"]
    _ipset(ctx)["entries"].append(entry)


def fw_ipset_delete(ctx: Ctx) -> Any:
    ipset = _ipset(ctx)
    if ipset["entries"]:
        raise E.HandlerError("IPSet not empty")
    del _fw(ctx)["ipsets"][ctx.params["name"]]


def fw_cidr_delete(ctx: Ctx) -> Any:
    ipset = _ipset(ctx)
    ipset["entries"] = [e for e in ipset["entries"] if e["cidr"] != ctx.params["cidr"]]
