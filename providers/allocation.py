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

import ipaddress
import os
from typing import Any, Mapping, Optional, TypedDict

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource,
                            ResourceProvider, UpdateResult)

from ipam.store import AllocationStore, PoolSpec, open_store
from ipam.placement import choose_node, node_loads, with_pending
from clients.proxmox import client_from_env, cluster_nodes, cluster_vms, vmid_taken
from components.naming import allocation_id, parse_allocation_id
from providers.wire import whole_numbers

REPLACE_KEYS = ("pool", "owner", "network", "gateway")
UPDATE_KEYS = ("vmid_start", "vmid_end", "reserved", "nodes", "memory_mb")
DEFAULT_DB = ".state/allocations.sqlite"
INT_KEYS = ("vmid_start", "vmid_end", "reserved", "memory_mb")


class AllocationArgs(TypedDict, total=False):
    """Inputs of :class:`Allocation`."""

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


def check_inputs(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalise inputs and list (property, reason) failures."""
    failures: list[tuple[str, str]] = []
    inputs = {**{"reserved": 10}, **news}
    inputs = whole_numbers(inputs, INT_KEYS)
    for key in ("pool", "owner"):
        if not isinstance(inputs.get(key), str) or not inputs[key]:
            failures.append((key, "must be a non-empty string"))
    start, end = inputs.get("vmid_start"), inputs.get("vmid_end")
    if not (isinstance(start, int) and isinstance(end, int) and 100 <= start <= end <= 999_999_999):
        failures.append(("vmid_start", "vmid_start..vmid_end must be a range within 100..999999999"))
    try:
        network = ipaddress.ip_network(str(inputs.get("network")), strict=True)
        if ipaddress.ip_address(str(inputs.get("gateway"))) not in network:
            failures.append(("gateway", f"must be an address inside {network}"))
    except ValueError as exc:
        failures.append(("network", f"must be a CIDR network such as 10.77.0.0/16 ({exc})"))
    nodes = inputs.get("nodes")
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, str) and n for n in nodes):
        failures.append(("nodes", "must be a non-empty list of node names"))
    if not isinstance(inputs.get("memory_mb"), int) or inputs["memory_mb"] <= 0:
        failures.append(("memory_mb", "must be a positive number of MiB"))
    return inputs, failures


def diff_inputs(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(changed keys, replacing keys): moving pool, owner or network needs a new allocation."""
    changed = [k for k in (*REPLACE_KEYS, *UPDATE_KEYS) if olds.get(k) != news.get(k)]
    return changed, [k for k in changed if k in REPLACE_KEYS]


def _store() -> AllocationStore:
    return open_store(os.environ.get("ALLOCATIONS_DB") or DEFAULT_DB)


def _spec(props: dict[str, Any]) -> PoolSpec:
    return PoolSpec(int(props["vmid_start"]), int(props["vmid_end"]), props["network"], props["gateway"],
                    int(props["reserved"]))


def _outs(props: dict[str, Any], vmid: int, address: str, node: str) -> dict[str, Any]:
    prefix = ipaddress.ip_network(props["network"]).prefixlen
    return {**props, "vmid": int(vmid), "address": address, "cidr": f"{address}/{prefix}", "node": node}


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

            existing = store.allocate(props["pool"], props["owner"], _spec(props), place,
                                      foreign_vmids=[int(vm["vmid"]) for vm in vms], memory_mb=memory,
                                      vmid_in_use=lambda vmid: vmid_taken(api, vmid))
        return CreateResult(id_=allocation_id(props["pool"], props["owner"]),
                            outs=_outs(props, existing.vmid, existing.address, existing.node))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        pool, owner = parse_allocation_id(id_, props)
        found = _store().get(pool, owner)
        if found is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs=_outs(props, found.vmid, found.address, found.node))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_outs(news, olds["vmid"], olds["address"], olds["node"]))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        pool, owner = parse_allocation_id(id_, props)
        _store().release(pool, owner)


class Allocation(Resource, module="ipam", name="Allocation"):
    """A VM id, an address (``address`` and ``cidr``) and a node held for one tenant server."""

    vmid: Output[int]
    address: Output[str]
    cidr: Output[str]
    node: Output[str]

    def __init__(self, name: str, args: AllocationArgs, opts: Optional[ResourceOptions] = None) -> None:
        super().__init__(AllocationProvider(), name,
                         {**args, "vmid": None, "address": None, "cidr": None, "node": None}, opts)
