"""Pulumi dynamic provider: a tenant server's VM id, static address and node, allocated by us.

The VM's id and address are known before the clone starts, so DNS and Dokploy need not wait on
discovery, and a run killed mid-clone leaves a VM whose id the next run already knows. Placement is
decided once, at allocation, from live node capacity; later runs keep the VM where it is.

The store comes from ``ALLOCATIONS_DB`` (a SQLite path or a ``postgresql://`` URL, see
:func:`ipam.store.open_store`) and Proxmox credentials from ``PROXMOX_VE_*``, read
inside each call (the provider object is pickled into state and must hold nothing).

The resource id is ``<pool>/<owner>`` with each part percent-encoded (:func:`allocation_id`), so it
splits back unambiguously although pools (``<env>/<region>``) and owners (``<slug>/<index>``) hold
slashes themselves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from clients.proxmox import client_from_env, cluster_guests, cluster_nodes, cluster_storages, vmid_taken
from components.naming import ALLOCATION_MODULE, ALLOCATION_NAME, ALLOCATIONS_DB_VAR, allocation_id, parse_allocation_id
from ipam.placement import (
    Candidate,
    Decision,
    NodeLoad,
    PlacementError,
    PlacementRequest,
    decide,
    node_loads,
    with_pending,
)
from providers.allocation_rules import allocation_outputs, check_inputs, diff_inputs, pool_spec

if TYPE_CHECKING:
    from ipam.store import Allocation, AllocationStore, Promised

DEFAULT_DB = ".state/allocations.sqlite"


class AllocationArgs(TypedDict, total=False):
    """Inputs of :class:`AllocationResource`."""

    pool: Input[str]
    """Allocation namespace, normally the environment (``prod``, ``local``)."""
    owner: Input[str]
    """Who holds it, e.g. ``acme/0`` (tenant slug and server index)."""
    vmid_start: Input[int]
    vmid_end: Input[int]
    network: Input[str]
    """Tenant network CIDR; addresses are handed out from it."""
    gateway: Input[str]
    reserved: Input[int]
    """Addresses at the start of the network that are never handed out."""
    nodes: Input[list[str]]
    """Candidate Proxmox nodes for placement."""
    memory_mb: Input[int]
    """Memory the VM will need; placement refuses nodes without room."""
    cores: Input[int]
    """vCPUs the VM will have; placement weighs them against the node's cores (a hint: no diff on change)."""
    disk_gb: Input[int]
    """Disk the VM will need on ``datastore``; placement refuses nodes whose datastore is short (a hint)."""
    datastore: Input[str]
    """The VM's datastore, whose free space per node placement reads (a hint)."""
    strict_spread: Input[bool]
    """Refuse, rather than double up, when every node that fits already holds a server of the tenant (a hint)."""


def _store() -> AllocationStore:
    # Imported here: the program registers this resource without ever opening the store, and SQLAlchemy with
    # the migrations costs a quarter of a second to import in every program start.
    from ipam.store import open_store

    return open_store(os.environ.get(ALLOCATIONS_DB_VAR) or DEFAULT_DB)


class AllocationProvider(ResourceProvider):
    """Allocates on create, keeps the allocation on update, releases it on delete."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_inputs(news)
        return CheckResult(inputs, [CheckFailure(p, r) for p, r in failures])

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed, replaces = diff_inputs(olds, news)
        if not changed:  # an operator moved the VM's allocation (cloudctl drain): the VM follows on this update
            pool, owner = parse_allocation_id(id_, olds)
            found = _store().get(pool, owner)
            changed = ["node"] if found is not None and found.node != olds.get("node") else []
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        store = _store()
        existing = store.get(props["pool"], props["owner"])
        if existing is None:
            api = client_from_env()
            cluster = read_cluster(api, props.get("datastore"))
            existing = store.allocate(
                props["pool"],
                props["owner"],
                pool_spec(props),
                placer(cluster.loads, props["nodes"], props),
                foreign_vmids=cluster.vmids,
                memory_mb=int(props["memory_mb"]),
                vmid_in_use=lambda vmid: vmid_taken(api, vmid),
                cores=int(props.get("cores") or 0),
                disk_gb=int(props.get("disk_gb") or 0),
            )
        return CreateResult(
            id_=allocation_id(props["pool"], props["owner"]),
            outs=allocation_outputs(props, existing.vmid, existing.address, existing.node),
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        pool, owner = parse_allocation_id(id_, props)
        found = _store().get(pool, owner)
        if found is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=allocation_outputs(props, found.vmid, found.address, found.node))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Keep the id and address; the node is the store's (a drain may have moved it). A larger VM whose node
        cannot take the growth is placed anew: the VM then migrates before it is resized."""
        pool, owner = parse_allocation_id(id_, olds)
        store = _store()
        found = store.get(pool, owner)
        node = found.node if found is not None else olds["node"]
        memory, cores = int(news["memory_mb"]), int(news.get("cores") or 0)
        grows = memory - int(olds.get("memory_mb") or 0)
        if found is not None and grows > 0 and node == olds["node"]:
            moved = self._place_growth(store, pool, owner, node, news, grows)
            node = moved.node if moved is not None else node
        elif found is not None:
            store.resize(pool, owner, memory, cores)
        return UpdateResult(outs=allocation_outputs(news, olds["vmid"], olds["address"], node))

    @staticmethod
    def _place_growth(
        store: AllocationStore, pool: str, owner: str, node: str, news: dict[str, Any], grows: int
    ) -> Allocation | None:
        """Stay on ``node`` if it has ``grows`` MiB more to give, else relocate (the placer's usual rules)."""
        cluster = read_cluster(client_from_env())
        memory, cores = int(news["memory_mb"]), int(news.get("cores") or 0)
        here = next((load for load in cluster.loads if load.name == node), None)
        if here is not None and here.online and here.free_memory_mb >= grows:
            store.resize(pool, owner, memory, cores)
            return None

        free = here.free_memory_mb if here is not None and here.online else 0
        stay = Candidate(node, "refused", f"the VM's node: {free} MiB free, {grows} MiB more needed to grow")

        elsewhere = placer(cluster.loads, [n for n in news["nodes"] if n != node], news)

        def place(promised: Promised) -> Decision:
            moved = elsewhere(promised)
            candidates = tuple(sorted([*moved.candidates, stay], key=lambda c: c.node))
            return Decision(moved.node, f"{moved.reason}; moved from {node}: {stay.reason}", candidates)

        return store.relocate(pool, owner, place, memory, cores, cluster.vmids)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        pool, owner = parse_allocation_id(id_, props)
        _store().release(pool, owner)


@dataclass(frozen=True)
class ClusterView:
    """A region's cluster as placement reads it: its VMs (all the token sees) and each node's load."""

    vms: list[dict[str, Any]]
    loads: list[NodeLoad]

    @property
    def vmids(self) -> list[int]:
        return [int(vm["vmid"]) for vm in self.vms]


def read_cluster(api: Any, datastore: str | None = None) -> ClusterView:
    """The cluster's VMs and containers and node loads (with ``datastore``'s free space per node when given)."""
    vms = cluster_guests(api)
    return ClusterView(vms, node_loads(cluster_nodes(api), vms, datastore_rows(api, datastore)))


def placer(
    loads: Iterable[NodeLoad], candidates: Sequence[str], props: Mapping[str, Any]
) -> Callable[[Promised], Decision]:
    """The ``place`` function an allocation runs in the allocators' transaction: the placement policy for the VM
    of ``props`` over ``candidates``, counting what the pool already promises."""
    loads = list(loads)

    def place(promised: Promised) -> Decision:
        pending = with_pending(loads, promised.memory_mb, promised.cores)
        return decide(pending, candidates, placement_request(props, promised))

    return place


def datastore_rows(api: Any, datastore: str | None) -> list[dict[str, Any]]:
    """The ``/cluster/resources`` rows of ``datastore`` on every node (its free space per node).

    PVE hides a storage the token may not audit instead of refusing, so placement would go on blind: refuse,
    naming the privilege."""
    if not datastore:
        return []
    rows = [s for s in cluster_storages(api) if s.get("storage") == datastore]
    if not rows:
        raise PlacementError(
            f"Proxmox shows no node's storage {datastore!r}: the API token needs Datastore.Audit on "
            f"/storage/{datastore} (see docs/proxmox-privileges.md)"
        )
    return rows


def placement_request(props: Mapping[str, Any], promised: Promised) -> PlacementRequest:
    """What the placer is asked for the VM of ``props``, given what the pool already promises."""
    from ipam.store import tenant_of

    return PlacementRequest(
        memory_mb=int(props["memory_mb"]),
        cores=int(props.get("cores") or 0),
        disk_gb=int(props.get("disk_gb") or 0),
        tenant=tenant_of(str(props["owner"])),
        siblings=promised.siblings,
        unschedulable=promised.unschedulable,
        strict_spread=bool(props.get("strict_spread")),
    )


class AllocationResource(Resource, module=ALLOCATION_MODULE, name=ALLOCATION_NAME):
    """A VM id, an address (``address`` and ``cidr``) and a node held for one tenant server.

    The Pulumi resource ``ipam:Allocation``; the store's row it reflects is :class:`ipam.store.Allocation`.
    """

    vmid: Output[int]
    address: Output[str]
    cidr: Output[str]
    node: Output[str]

    def __init__(self, name: str, args: AllocationArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__(
            AllocationProvider(), name, {**args, "vmid": None, "address": None, "cidr": None, "node": None}, opts
        )
