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
from collections.abc import Mapping
from typing import Any, TypedDict

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

from clients.proxmox import client_from_env, cluster_nodes, cluster_vms, vmid_taken
from components.naming import ALLOCATION_MODULE, ALLOCATION_NAME, ALLOCATIONS_DB_VAR, allocation_id, parse_allocation_id
from ipam.placement import choose_node, node_loads, with_pending
from ipam.store import AllocationStore, open_store
from providers.allocation_rules import allocation_outputs, check_inputs, diff_inputs, pool_spec

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


def _store() -> AllocationStore:
    return open_store(os.environ.get(ALLOCATIONS_DB_VAR) or DEFAULT_DB)


class AllocationProvider(ResourceProvider):
    """Allocates on create, keeps the allocation on update, releases it on delete."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_inputs(news)
        return CheckResult(inputs, [CheckFailure(p, r) for p, r in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed, replaces = diff_inputs(olds, news)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        store = _store()
        existing = store.get(props["pool"], props["owner"])
        if existing is None:
            api = client_from_env()
            vms = cluster_vms(api)
            loads = node_loads(cluster_nodes(api), vms)
            memory = int(props["memory_mb"])

            def place(pending: Mapping[str, int]) -> str:
                return choose_node(with_pending(loads, pending), props["nodes"], memory)

            existing = store.allocate(
                props["pool"],
                props["owner"],
                pool_spec(props),
                place,
                foreign_vmids=[int(vm["vmid"]) for vm in vms],
                memory_mb=memory,
                vmid_in_use=lambda vmid: vmid_taken(api, vmid),
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

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=allocation_outputs(news, olds["vmid"], olds["address"], olds["node"]))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        pool, owner = parse_allocation_id(id_, props)
        _store().release(pool, owner)


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
