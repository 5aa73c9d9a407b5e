"""Choosing the node a new tenant VM lands on: pure, so its rules can be stated as properties.

The policy, in order:

1. **Refuse** nodes that are offline, marked unschedulable (``cloudctl drain``), short of memory for the VM
   (memory promised to allocations whose VMs do not exist yet counts as used), or short of space on the VM's
   datastore when the cluster reports it.
2. **Spread** one tenant's servers: among the nodes left, those holding the fewest of the tenant's servers
   win (anti-affinity). A tenant with more servers than fitting nodes doubles up only when no other node
   fits; with ``strict_spread`` that is refused instead.
3. **Weigh** what is free after placement: memory (half the weight), CPU cores (committed vCPUs against the
   node's cores, 30 %) and datastore space (20 %, where reported). The highest score wins; ties by name.

Every decision carries its reasons (:class:`Decision`), recorded with the allocation and shown by
``cloudctl status``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MEMORY_WEIGHT, CPU_WEIGHT, DISK_WEIGHT = 0.5, 0.3, 0.2
NO_ROOM = "no node can take a VM"
"""How a refusal for want of room begins (a cold run that meets it may take a warm-pool VM's room)."""


class PlacementError(RuntimeError):
    """No candidate node can take the VM; the message lists why each was refused."""


@dataclass(frozen=True)
class NodeLoad:
    """A node's capacity and what VMs already committed on it."""

    name: str
    online: bool
    max_memory_mb: int
    committed_memory_mb: int
    cpus: int = 0
    """The node's CPU threads (0: not reported, the CPU criterion is left out)."""
    committed_cores: int = 0
    """vCPUs of the VMs on the node, running or not."""
    disk_free_gb: float | None = None
    """Free space on the VM's datastore on this node (None: not reported)."""
    disk_total_gb: float | None = None

    @property
    def free_memory_mb(self) -> int:
        return self.max_memory_mb - self.committed_memory_mb


@dataclass(frozen=True)
class PlacementRequest:
    """What the new VM needs and whom it belongs to."""

    memory_mb: int
    cores: int = 0
    disk_gb: int = 0
    tenant: str = ""
    siblings: Mapping[str, int] = field(default_factory=dict)
    """Node -> how many servers of the same tenant are (or are promised to be) there."""
    unschedulable: Mapping[str, str] = field(default_factory=dict)
    """Node -> why no new VM may land there (a drain)."""
    strict_spread: bool = False


@dataclass(frozen=True)
class Candidate:
    """One node as the placer saw it."""

    node: str
    verdict: str
    """``chosen``, ``fits`` or ``refused``."""
    reason: str
    score: float = 0.0
    siblings: int = 0


@dataclass(frozen=True)
class Decision:
    """The chosen node and why, with every candidate's verdict."""

    node: str
    reason: str
    candidates: tuple[Candidate, ...]

    def to_json(self) -> str:
        """The decision as stored with the allocation."""
        return json.dumps(
            {"node": self.node, "reason": self.reason, "candidates": [asdict(c) for c in self.candidates]},
            sort_keys=True,
        )

    @staticmethod
    def summary_of(stored: str | None) -> str:
        """The one-line reason of a stored decision ('' when none was recorded)."""
        try:
            return str(json.loads(stored or "{}").get("reason", ""))
        except ValueError:
            return ""


def node_loads(
    nodes: Iterable[dict[str, Any]], vms: Iterable[dict[str, Any]], storages: Iterable[dict[str, Any]] = ()
) -> list[NodeLoad]:
    """NodeLoads from ``/cluster/resources`` rows (nodes, VMs, and the VM datastore's storage rows).

    A node's committed memory is the memory its running guests use, taken from the node's own figure
    (it counts every guest, also those the token may not see), plus the configured memory of the
    visible VMs that are not running (they keep their claim: a suspended tenant resumes). Node figures
    need ``Sys.Audit`` on ``/nodes``: without them placement would be guessing, so it refuses.
    """
    stopped: dict[str, int] = {}
    cores: dict[str, int] = {}
    for vm in vms:
        if vm.get("template"):
            continue
        node = str(vm.get("node"))
        cores[node] = cores.get(node, 0) + int(vm.get("maxcpu", 0) or 0)
        if vm.get("status") != "running":
            stopped[node] = stopped.get(node, 0) + int(vm.get("maxmem", 0)) // 2**20
    disks = {
        str(s["node"]): (float(s["maxdisk"]) - float(s.get("disk", 0))) / 2**30
        for s in storages
        if "maxdisk" in s and s.get("node")
    }
    totals = {str(s["node"]): float(s["maxdisk"]) / 2**30 for s in storages if "maxdisk" in s and s.get("node")}
    loads = []
    for n in nodes:
        online = n.get("status") == "online"
        if online and not ("maxmem" in n and "mem" in n):
            raise PlacementError(
                f"node {n['node']}: Proxmox reports no memory figures for it; the API token needs "
                f"Sys.Audit on /nodes (see docs/proxmox-privileges.md)"
            )
        name = str(n["node"])
        loads.append(
            NodeLoad(
                name,
                online,
                int(n.get("maxmem", 0)) // 2**20,
                int(n.get("mem", 0)) // 2**20 + stopped.get(name, 0),
                int(n.get("maxcpu", 0) or 0),
                cores.get(name, 0),
                disks.get(name),
                totals.get(name),
            )
        )
    return loads


def with_pending(
    loads: Iterable[NodeLoad], pending_mb: Mapping[str, int], pending_cores: Mapping[str, int] | None = None
) -> list[NodeLoad]:
    """Loads with the memory (and cores) promised to allocations whose VMs do not exist yet added to each node."""
    extra_cores = pending_cores or {}
    return [
        NodeLoad(
            load.name,
            load.online,
            load.max_memory_mb,
            load.committed_memory_mb + pending_mb.get(load.name, 0),
            load.cpus,
            load.committed_cores + extra_cores.get(load.name, 0),
            load.disk_free_gb,
            load.disk_total_gb,
        )
        for load in loads
    ]


def decide(
    loads: Iterable[NodeLoad], candidates: Iterable[str], request: PlacementRequest, overcommit: float = 1.0
) -> Decision:
    """Apply the policy (module docstring) to ``candidates``; raise :class:`PlacementError` when none fits."""
    by_name = {load.name: load for load in loads}
    refused: list[Candidate] = []
    fitting: list[tuple[int, float, str, Candidate]] = []
    for name in candidates:
        load = by_name.get(name)
        why = _refusal(load, name, request, overcommit)
        siblings = request.siblings.get(name, 0)
        if why:
            refused.append(Candidate(name, "refused", why, siblings=siblings))
            continue
        assert load is not None
        score = _score(load, request, overcommit)
        fitting.append((siblings, -score, name, Candidate(name, "fits", _free_after(load, request), score, siblings)))
    if not fitting:
        detail = "; ".join(f"{c.node}: {c.reason}" for c in refused) or "no candidate nodes"
        raise PlacementError(f"{NO_ROOM} of {request.memory_mb} MiB: {detail}")
    fitting.sort()
    siblings, _, node, best = fitting[0]
    who = request.tenant or "the tenant"
    if siblings and request.strict_spread:
        raise PlacementError(
            f"anti-affinity: every node that fits already holds a server of {who} "
            f"({', '.join(f'{c.node}: {c.siblings}' for *_, c in fitting)}); add a node or relax strict spreading"
        )
    if siblings:
        spread = f"every node that fits holds a server of {who} already; fewest here ({siblings})"
    elif any(c.siblings for *_, c in fitting) or any(c.siblings for c in refused):
        spread = f"no server of {who} here yet"
    else:
        spread = "best score"
    reason = f"{node}: {spread}; {best.reason} (score {best.score:.2f})"
    others = [
        Candidate(c.node, "chosen" if c.node == node else c.verdict, c.reason, c.score, c.siblings) for *_, c in fitting
    ]
    return Decision(node, reason, tuple(sorted([*others, *refused], key=lambda c: c.node)))


def choose_node(loads: Iterable[NodeLoad], candidates: Iterable[str], memory_mb: int, overcommit: float = 1.0) -> str:
    """The node :func:`decide` picks for a VM of ``memory_mb`` with nothing else known."""
    return decide(loads, candidates, PlacementRequest(memory_mb), overcommit).node


def _refusal(load: NodeLoad | None, name: str, request: PlacementRequest, overcommit: float) -> str:
    if load is None:
        return "not in the cluster"
    if not load.online:
        return "offline"
    if name in request.unschedulable:
        return f"unschedulable ({request.unschedulable[name]})"
    free_after = int(load.max_memory_mb * overcommit) - load.committed_memory_mb - request.memory_mb
    if free_after < 0:
        return f"{load.free_memory_mb} MiB free, {request.memory_mb} MiB needed"
    if load.disk_free_gb is not None and load.disk_free_gb < request.disk_gb:
        return f"{load.disk_free_gb:.0f} GiB free on the datastore, {request.disk_gb} GiB needed"
    return ""


def _score(load: NodeLoad, request: PlacementRequest, overcommit: float) -> float:
    memory = max(0.0, 1 - (load.committed_memory_mb + request.memory_mb) / max(1.0, load.max_memory_mb * overcommit))
    parts = [(MEMORY_WEIGHT, memory)]
    if load.cpus:
        parts.append((CPU_WEIGHT, max(0.0, 1 - (load.committed_cores + request.cores) / (4 * load.cpus))))
    if load.disk_free_gb is not None and load.disk_total_gb:
        parts.append((DISK_WEIGHT, max(0.0, (load.disk_free_gb - request.disk_gb) / load.disk_total_gb)))
    return sum(w * v for w, v in parts) / sum(w for w, _ in parts)


def _free_after(load: NodeLoad, request: PlacementRequest) -> str:
    text = f"{load.free_memory_mb - request.memory_mb} MiB"
    if load.cpus:
        text += f", {load.committed_cores + request.cores}/{load.cpus} vCPU/threads"
    if load.disk_free_gb is not None:
        text += f", {load.disk_free_gb - request.disk_gb:.0f} GiB"
    return text + " free after placement"
