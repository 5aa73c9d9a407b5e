"""Node maintenance: drain a node (no new VMs, its tenants' VMs migrated away one tenant at a time), undrain it.

A drain marks the node unschedulable in the allocation store (:meth:`ipam.store.AllocationStore.mark_unschedulable`),
so no placement picks it any more, then, tenant by tenant:

1. places each of the tenant's servers on the node anew (the usual policy of :mod:`ipam.placement`: the
   drained node refused, the tenant's other servers avoided where possible) and records the new node on its
   allocation, keeping its VM id and address;
2. applies the tenant's stack: the allocation's diff sees the new node, and the VM (``migrate=True``) is
   migrated by Proxmox instead of cloned again; DNS and the Dokploy registration do not change;
3. checks that the VM runs on the new node with the same id and address, and stops at the first tenant that
   failed (the node stays unschedulable; running the drain again carries on where it stopped).

Every move is written to the audit trail. ``undrain`` lifts the mark; VMs stay where they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from proxmoxer import ProxmoxAPI

from clients.proxmox import cluster_vms
from components.environment import Environment, Region
from components.naming import allocation_pool, parse_allocation_owner
from components.spec import TenantSpec
from ipam.placement import Decision
from ipam.store import Allocation, AllocationStore
from providers.allocation import ClusterView, placer, read_cluster
from provisioning.fleet_db import FleetDatabase
from provisioning.runs import Runner


class DrainError(RuntimeError):
    """The drain cannot start (unknown node, ambiguous region) or a tenant could not be moved."""


@dataclass
class Move:
    """One server moved off the drained node."""

    slug: str
    server: int
    vmid: int
    address: str
    from_node: str
    to_node: str = "-"
    reason: str = ""
    result: str = "pending"


@dataclass
class DrainReport:
    """What a drain did: the node, its region and every move, in order."""

    node: str
    region: str
    moves: list[Move] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(m.result == "moved" for m in self.moves)


def region_of(environment: Environment, node: str, region: str | None = None) -> Region:
    """The region whose nodes include ``node`` (``region`` when given); DrainError when none or several do."""
    found = [r for r in environment.regions.values() if node in r.nodes and (region is None or r.name == region)]
    if not found:
        raise DrainError(f"node {node!r} is in no region of environment {environment.name} (regions.<r>.nodes)")
    if len(found) > 1:
        raise DrainError(f"node {node!r} is in regions {[r.name for r in found]}: name one with --region")
    return found[0]


def drain(
    environment: Environment,
    store: AllocationStore,
    runner: Runner,
    tenants: Callable[[str], TenantSpec],
    proxmox: Callable[[str], ProxmoxAPI],
    node: str,
    *,
    region: str | None = None,
    reason: str = "drained",
    fleet: FleetDatabase | None = None,
    actor: str = "cloudctl",
    on_move: Callable[[Move], None] | None = None,
) -> DrainReport:
    """Mark ``node`` unschedulable and move every tenant VM off it (module docstring). ``tenants`` gives a
    tenant's declaration by slug, ``proxmox`` a region's client by name."""
    where = region_of(environment, node, region)
    pool = allocation_pool(environment.name, where.name)
    store.mark_unschedulable(pool, node, reason)
    if fleet is not None:
        fleet.audit(actor, "drain", node, "started", detail=f"region {where.name}: {reason}")
    report = DrainReport(node, where.name)
    api = proxmox(where.name)
    # Also VMs still on the node whose allocation moved already: a drain killed before their tenant's update.
    still_there = {vmid for vmid, at in _placed(api, None).items() if at == node}
    for slug, held in _by_tenant(store.all(pool), node, still_there):
        spec = tenants(slug)
        if environment.plans[spec.plan].is_lxc:  # bpg would replace the container (node_name is ForceNew)
            why = f"refused: {slug} is on lxc plan {spec.plan!r}; containers are not drained (see docs/platform/lxc.md)"
            for allocation in held:
                owner = parse_allocation_owner(allocation.owner)
                move = Move(slug, owner[1] if owner else 0, allocation.vmid, allocation.address, node, result=why)
                report.moves.append(move)
                if on_move is not None:
                    on_move(move)
            break
        cluster = read_cluster(api, where.datastore)  # afresh per tenant: the last one's VMs moved
        moves = [_relocate(environment, where, store, cluster, spec, allocation) for allocation in held]
        report.moves.extend(moves)
        result = runner.run(spec, "up")
        placed = _placed(api, {m.vmid for m in moves}) if result.ok else {}
        for move in moves:
            if not result.ok:
                move.result = f"failed: {(result.error or '').splitlines()[0][:120]}"
            elif placed.get(move.vmid) != move.to_node:
                move.result = f"failed: VM {move.vmid} is on {placed.get(move.vmid, 'no node')}, not {move.to_node}"
            else:
                move.result = "moved"
            if fleet is not None:
                outcome = "succeeded" if move.result == "moved" else "failed"
                detail = f"VM {move.vmid} {move.from_node} -> {move.to_node}: {move.reason}"
                fleet.audit(actor, "migrate", f"{slug}/{move.server}", outcome, tenant=slug, detail=detail)
            if on_move is not None:
                on_move(move)
        if not all(m.result == "moved" for m in moves):
            break
    if fleet is not None:
        fleet.audit(actor, "drain", node, "succeeded" if report.ok else "failed", detail=f"{len(report.moves)} moves")
    return report


def undrain(environment: Environment, store: AllocationStore, node: str, region: str | None = None) -> bool:
    """Let new VMs land on ``node`` again; True if it was drained. VMs moved away stay where they are."""
    where = region_of(environment, node, region)
    return store.mark_schedulable(allocation_pool(environment.name, where.name), node)


def _by_tenant(
    allocations: Iterable[Allocation], node: str, still_there: set[int]
) -> list[tuple[str, list[Allocation]]]:
    grouped: dict[str, list[Allocation]] = {}
    for allocation in allocations:
        owner = parse_allocation_owner(allocation.owner)
        if (allocation.node == node or allocation.vmid in still_there) and owner is not None:
            grouped.setdefault(owner[0], []).append(allocation)
    return sorted(grouped.items())


def _relocate(
    environment: Environment,
    region: Region,
    store: AllocationStore,
    cluster: ClusterView,
    spec: TenantSpec,
    allocation: Allocation,
) -> Move:
    owner = parse_allocation_owner(allocation.owner)
    assert owner is not None
    move = Move(spec.slug, owner[1], allocation.vmid, allocation.address, allocation.node)
    now_on = next((str(vm["node"]) for vm in cluster.vms if int(vm["vmid"]) == allocation.vmid), allocation.node)
    if allocation.node != now_on:  # moved by a drain that died before its tenant's update
        move.from_node, move.to_node = now_on, allocation.node
        move.reason = Decision.summary_of(allocation.placement)
        return move
    plan = environment.plans[spec.plan]
    props = {
        "owner": allocation.owner,
        "memory_mb": plan.memory_mb,
        "cores": plan.cores,
        "disk_gb": 0,  # the disk moves with the VM; its space is already taken on the cluster's storage
        "strict_spread": region.strict_spread,
    }
    place = placer(cluster.loads, region.nodes, props)
    moved = store.relocate(allocation.pool, allocation.owner, place, plan.memory_mb, plan.cores, cluster.vmids)
    if moved is not None:
        move.to_node, move.reason = moved.node, Decision.summary_of(moved.placement)
    return move


def _placed(api: ProxmoxAPI, vmids: set[int] | None) -> dict[int, str]:
    """VM id -> the node it is on now, for ``vmids`` (every visible VM for None)."""
    return {int(vm["vmid"]): str(vm["node"]) for vm in cluster_vms(api) if vmids is None or int(vm["vmid"]) in vmids}
