"""Choosing the node a new tenant VM lands on: pure, so its rules can be stated as properties."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class PlacementError(RuntimeError):
    """No candidate node can take the VM; the message lists why each was refused."""


@dataclass(frozen=True)
class NodeLoad:
    """A node's memory capacity and what VMs already committed on it."""

    name: str
    online: bool
    max_memory_mb: int
    committed_memory_mb: int

    @property
    def free_memory_mb(self) -> int:
        return self.max_memory_mb - self.committed_memory_mb


def node_loads(nodes: Iterable[dict[str, Any]], vms: Iterable[dict[str, Any]]) -> list[NodeLoad]:
    """NodeLoads from ``/cluster/resources`` rows.

    A node's committed memory is the memory its running guests use, taken from the node's own figure
    (it counts every guest, also those the token may not see), plus the configured memory of the
    visible VMs that are not running (they keep their claim: a suspended tenant resumes). Node figures
    need ``Sys.Audit`` on ``/nodes``: without them placement would be guessing, so it refuses.
    """
    stopped: dict[str, int] = {}
    for vm in vms:
        if not vm.get("template") and vm.get("status") != "running":
            stopped[vm["node"]] = stopped.get(vm["node"], 0) + int(vm.get("maxmem", 0)) // 2**20
    loads = []
    for n in nodes:
        online = n.get("status") == "online"
        if online and not ("maxmem" in n and "mem" in n):
            raise PlacementError(
                f"node {n['node']}: Proxmox reports no memory figures for it; the API token needs "
                f"Sys.Audit on /nodes (see docs/proxmox-privileges.md)"
            )
        loads.append(
            NodeLoad(
                n["node"],
                online,
                int(n.get("maxmem", 0)) // 2**20,
                int(n.get("mem", 0)) // 2**20 + stopped.get(n["node"], 0),
            )
        )
    return loads


def with_pending(loads: Iterable[NodeLoad], pending_mb: Mapping[str, int]) -> list[NodeLoad]:
    """Loads with memory promised to allocations whose VMs do not exist yet added to each node."""
    return [
        NodeLoad(load.name, load.online, load.max_memory_mb, load.committed_memory_mb + pending_mb.get(load.name, 0))
        for load in loads
    ]


def choose_node(loads: Iterable[NodeLoad], candidates: Iterable[str], memory_mb: int, overcommit: float = 1.0) -> str:
    """The online candidate with the most free memory after placement (ties by name)."""
    refused: list[str] = []
    fits: list[tuple[int, str]] = []
    by_name = {load.name: load for load in loads}
    for name in candidates:
        load = by_name.get(name)
        if load is None:
            refused.append(f"{name}: not in the cluster")
        elif not load.online:
            refused.append(f"{name}: offline")
        else:
            free_after = int(load.max_memory_mb * overcommit) - load.committed_memory_mb - memory_mb
            if free_after < 0:
                refused.append(f"{name}: {load.free_memory_mb} MiB free, {memory_mb} MiB needed")
            else:
                fits.append((-free_after, name))
    if not fits:
        raise PlacementError(f"no node can take a VM of {memory_mb} MiB: {'; '.join(refused) or 'no candidate nodes'}")
    return min(fits)[1]
