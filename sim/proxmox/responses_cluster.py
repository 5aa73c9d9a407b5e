"""Read endpoints for the cluster, its nodes and the caller's permissions, as a PVE cluster without
HA, SDN, replication, containers or a subscription answers them (issue 12, item 7).

Values follow the simulated state: the nodes of one simulator form one cluster (``settings.cluster_name``,
``simcluster`` unless set; the ticket login reports it too), the first node answers the API (``local``),
VM usage comes from their status.
Permissions named in the schema (``check``) are enforced before these run; the filters described in
prose are applied here.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from typing import Any

from . import exceptions as E
from . import perms
from .responses import Ctx

CLUSTER_NAME = "simcluster"
NODE_NETWORK = ipaddress.ip_network("192.0.2.0/24")
"""Node addresses (TEST-NET-1: documentation only, never routed)."""
RRD_STEPS = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800, "decade": 6048000}
"""Seconds per row for each timeframe the schema allows (close to PVE's RRD archives; 70 rows each)."""
RRD_ROWS = 70


def _node_names(ctx: Ctx) -> list[str]:
    return sorted(ctx.backend.nodes)


def node_address(ctx: Ctx, node: str) -> str:
    """The node's cluster address (stable: by its position in the cluster)."""
    return str(NODE_NETWORK[10 + _node_names(ctx).index(node)])


def cluster_status(ctx: Ctx) -> Any:
    """GET /cluster/status: the cluster entry (quorum, node count, config version) and one entry per node."""
    names = _node_names(ctx)
    online = [ctx.backend.nodes[n].online for n in names]
    out: list[dict[str, Any]] = []
    if len(names) > 1:  # a standalone node has no cluster entry
        out.append(
            {
                "type": "cluster",
                "id": "cluster",
                "name": ctx.backend.settings.cluster_name,
                "nodes": len(names),
                "quorate": int(sum(online) * 2 > len(names)),
                "version": len(names),
            }
        )
    for index, name in enumerate(names):
        out.append(
            {
                "type": "node",
                "id": f"node/{name}",
                "name": name,
                "nodeid": index + 1,
                "online": int(online[index]),
                "local": int(index == 0),
                "ip": node_address(ctx, name),
                "level": "",
            }
        )
    return out


def cluster_options(ctx: Ctx) -> Any:
    """GET /cluster/options: datacenter.cfg, empty on a fresh cluster."""
    return {}


def ha_status(ctx: Ctx) -> Any:
    """GET /cluster/ha/status/current: quorum and idle local resource managers (no HA resources)."""
    names = _node_names(ctx)
    now = int(ctx.backend.clock())
    out: list[dict[str, Any]] = [
        {"id": "quorum", "type": "quorum", "node": names[0], "status": "OK", "quorate": 1},
    ]
    out += [
        {"id": f"lrm:{name}", "type": "lrm", "node": name, "status": f"{name} (idle, {now})", "timestamp": now}
        for name in names
        if ctx.backend.nodes[name].online
    ]
    return out


def qdevice(ctx: Ctx) -> Any:
    """GET /cluster/config/qdevice: no QDevice is configured."""
    return {}


def sdn_index(ctx: Ctx) -> Any:
    """GET /cluster/sdn: the directory of SDN objects."""
    return [{"id": k} for k in ("vnets", "zones", "controllers", "ipams", "dns", "fabrics")]


def empty_list(ctx: Ctx) -> Any:
    """An SDN, replication or container list of a cluster that configures none."""
    return []


def node_network(ctx: Ctx) -> Any:
    """GET /nodes/{node}/network: the uplink and the bridge guests attach to (``vmbr0``)."""
    address = node_address(ctx, ctx.node)
    bridge = {
        "iface": "vmbr0",
        "type": "bridge",
        "method": "static",
        "families": ["inet"],
        "active": 1,
        "autostart": 1,
        "priority": 4,
        "bridge_ports": "eno1",
        "bridge_stp": "off",
        "bridge_fd": "0",
        "address": address,
        "netmask": str(NODE_NETWORK.prefixlen),
        "cidr": f"{address}/{NODE_NETWORK.prefixlen}",
        "gateway": str(NODE_NETWORK[1]),
    }
    uplink = {
        "iface": "eno1",
        "type": "eth",
        "method": "manual",
        "families": ["inet"],
        "active": 1,
        "exists": 1,
        "autostart": 1,
        "priority": 3,
    }
    wanted = ctx.params.get("type")
    kinds = {"bridge": ["bridge"], "any_bridge": ["bridge"], "eth": ["eth"], "any_local_bridge": ["bridge"]}
    return [i for i in (uplink, bridge) if wanted is None or i["type"] in kinds.get(str(wanted), [str(wanted)])]


def subscription(ctx: Ctx) -> Any:
    """GET /nodes/{node}/subscription: no subscription key (a community installation)."""
    out: dict[str, Any] = {
        "status": "notfound",
        "message": "There is no subscription key",
        "url": "https://www.proxmox.com/en/proxmox-virtual-environment/pricing",
    }
    if ctx.can(f"/nodes/{ctx.node}", ["Sys.Audit"]):
        out["serverid"] = hashlib.md5(f"{CLUSTER_NAME}/{ctx.node}".encode()).hexdigest().upper()
    return out


def _series(step: int, now: int, sample: Any) -> list[dict[str, Any]]:
    start = now - now % step - (RRD_ROWS - 1) * step
    return [{"time": start + i * step, **sample(i)} for i in range(RRD_ROWS)]


def _timeframe(ctx: Ctx) -> int:
    return RRD_STEPS[str(ctx.params["timeframe"])]


def node_rrddata(ctx: Ctx) -> Any:
    """GET /nodes/{node}/rrddata: the node's usage over the timeframe (flat at its current usage)."""
    entry = ctx.backend.node_entry(ctx.backend.node(ctx.node).name)
    wave = 0.02 if ctx.params.get("cf") == "MAX" else 0.0

    def sample(i: int) -> dict[str, Any]:
        return {
            "cpu": round(float(entry["cpu"]) + wave * (1 + math.sin(i / 5)), 4),
            "maxcpu": entry["maxcpu"],
            "memused": entry["mem"],
            "memtotal": entry["maxmem"],
            "loadavg": 0.1,
            "iowait": 0.0,
            "rootused": entry["disk"],
            "roottotal": entry["maxdisk"],
            "swapused": 0,
            "swaptotal": 0,
            "netin": 1000.0,
            "netout": 1000.0,
        }

    return _series(_timeframe(ctx), int(ctx.backend.clock()), sample)


def vm_rrddata(ctx: Ctx) -> Any:
    """GET /nodes/{node}/qemu/{vmid}/rrddata: the VM's usage over the timeframe (zero while stopped)."""
    status = ctx.backend.status_current(ctx.node, ctx.vmid)
    running = status.get("status") == "running"

    def sample(i: int) -> dict[str, Any]:
        return {
            "cpu": status.get("cpu", 0) if running else 0,
            "maxcpu": status.get("cpus", 1),
            "mem": status.get("mem", 0) if running else 0,
            "maxmem": status.get("maxmem", 0),
            "disk": 0,
            "maxdisk": status.get("maxdisk", 0),
            "netin": 500.0 if running else 0,
            "netout": 500.0 if running else 0,
            "diskread": 0,
            "diskwrite": 0,
        }

    return _series(_timeframe(ctx), int(ctx.backend.clock()), sample)


def replication(ctx: Ctx) -> Any:
    """GET /nodes/{node}/replication: no replication jobs (a guest filter must name a guest we hold)."""
    guest = ctx.params.get("guest")
    if guest is not None and int(guest) not in ctx.backend.vms:
        raise E.HandlerError(f"Configuration file 'nodes/{ctx.node}/qemu-server/{guest}.conf' does not exist")
    return []


def permissions(ctx: Ctx) -> Any:
    """GET /access/permissions: ``{path: {privilege: 1}}`` for the caller, a token it owns, or (with
    Sys.Audit on /access) anyone."""
    access = ctx.backend.access
    target = str(ctx.params.get("userid") or ctx.authid)
    owns = target == ctx.authid or (target.split("!")[0] == ctx.authid and "!" not in ctx.authid)
    if not owns:
        perms.require(access, ctx.authid, "/access", ["Sys.Audit"])
    if ctx.params.get("path"):
        paths = [str(ctx.params["path"])]
    else:
        paths = ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage", "/vms"]
        paths += [entry.path for entry in access.acl]
        paths += [f"/vms/{vmid}" for pool in ctx.backend.pools.values() for vmid in pool.vms]
    out: dict[str, dict[str, int]] = {}
    for path in dict.fromkeys(paths):
        privs = access.privileges(target, path)
        if privs or ctx.params.get("path"):
            out[path] = dict.fromkeys(sorted(privs), 1)
    return out


def ha_resource_get(ctx: Ctx) -> Any:
    """``GET /cluster/ha/resources/{sid}``: the simulator has no HA manager, so no guest is an HA resource and
    every lookup fails as PVE's ``read_resource`` does for an unknown one (500 ``no such resource``). A bare
    VM id is PVE's shortcut for ``vm:<id>``."""
    sid = str(ctx.params["sid"])
    if sid.isdigit():
        sid = f"vm:{sid}"
    kind, _, name = sid.partition(":")
    if kind not in ("vm", "ct") or not name.isdigit():  # the schema's format pve-ha-resource-or-vm-id
        raise E.param_error("sid", "value does not look like a valid ha resource id")
    raise E.HandlerError(f"no such resource '{sid}'")
