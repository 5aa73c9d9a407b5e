"""Further reads of a VM and of storages: IP set entries, the generated cloud-init documents, feature
checks, storage RRD data and the cluster's task list."""

from __future__ import annotations

import urllib.parse
from typing import Any

from . import exceptions as E
from . import propstr as P
from .responses import Ctx, _task_visible
from .responses_cluster import _series, _timeframe
from .responses_vm import _ipset
from .snapshots import SNAPSHOT_STORAGE_TYPES

CLUSTER_TASKS = 50
"""How many recent tasks ``/cluster/tasks`` lists."""


def fw_cidr_get(ctx: Ctx) -> Any:
    """GET …/firewall/ipset/{name}/{cidr}: one entry of the IP set."""
    for entry in _ipset(ctx)["entries"]:
        if entry["cidr"] == ctx.params["cidr"]:
            return dict(entry)
    raise E.HandlerError(f"no such IP/Network '{ctx.params['cidr']}'")


def cloudinit_dump(ctx: Ctx) -> Any:
    """GET …/cloudinit/dump: the user, network or meta document the cloud-init drive would carry."""
    cfg = ctx.backend.get_config(ctx.node, ctx.vmid)
    kind = ctx.params["type"]
    if kind == "user":
        lines = ["#cloud-config", f"hostname: {cfg.get('name', f'VM{ctx.vmid}')}", "manage_etc_hosts: true"]
        if cfg.get("ciuser"):
            lines.append(f"user: {cfg['ciuser']}")
        keys = [k for k in urllib.parse.unquote(str(cfg.get("sshkeys", ""))).splitlines() if k.strip()]
        if keys:
            lines.append("ssh_authorized_keys:")
            lines += [f"  - {k}" for k in keys]
        lines += ["chpasswd:", "  expire: False", "users:", "  - default", "package_upgrade: true"]
        return "\n".join(lines) + "\n"
    if kind == "meta":
        return f"instance-id: {ctx.backend.vms[ctx.vmid].digest()}\n"
    lines = ["version: 1", "config:"]
    for key in sorted(k for k in cfg if k.startswith("ipconfig")):
        index = key[len("ipconfig") :]
        ip = P.parse(str(cfg[key]))
        lines += ["    - type: physical", f"      name: eth{index}", "      subnets:"]
        if ip.get("ip") == "dhcp":
            lines.append("      - type: dhcp4")
        elif ip.get("ip"):
            lines += ["      - type: static", f"        address: '{ip['ip']}'"]
            if ip.get("gw"):
                lines.append(f"        gateway: '{ip['gw']}'")
    return "\n".join(lines) + "\n"


def feature(ctx: Ctx) -> Any:
    """GET …/feature: whether the VM's storages allow snapshot/clone/copy (RBD, LVM-thin and ZFS do)."""
    vm = ctx.backend.vm(ctx.node, ctx.vmid)
    storages = [ctx.backend.storages[sid] for sid in _storages(vm.config) if sid in ctx.backend.storages]
    has = ctx.params["feature"] not in ("snapshot", "clone") or (
        bool(storages) and all(s.type in SNAPSHOT_STORAGE_TYPES for s in storages)
    )
    nodes = [ctx.node] if any(not s.shared for s in storages) else sorted(ctx.backend.nodes)
    return {"hasFeature": int(has), "nodes": nodes}


def _storages(config: dict[str, Any]) -> set[str]:
    out = set()
    for key, value in config.items():
        if P.is_disk_key(key) and not P.is_cdrom(str(value)):
            sid = P.volume_storage(P.parse_drive(str(value))["file"])
            if sid:
                out.add(sid)
    return out


def storage_rrddata(ctx: Ctx) -> Any:
    """GET /nodes/{node}/storage/{storage}/rrddata: the storage's size and usage over the timeframe."""
    status = ctx.backend.storage_status(ctx.node, ctx.params["storage"])
    return _series(
        _timeframe(ctx), int(ctx.backend.clock()), lambda i: {"total": status["total"], "used": status["used"]}
    )


def cluster_tasks(ctx: Ctx) -> Any:
    """GET /cluster/tasks: recent tasks of every node the caller may see (newest first)."""
    items = [t for node in sorted(ctx.backend.nodes) for t in ctx.backend.task_list(node, source="all")]
    visible = [
        t for t in items if _task_visible(ctx, t["user"] + (f"!{t['tokenid']}" if "tokenid" in t else ""), t["node"])
    ]
    return sorted(visible, key=lambda t: -t["starttime"])[:CLUSTER_TASKS]
