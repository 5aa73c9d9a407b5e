"""Allocations and who holds them: the operator's view, free capacity, and the sweep of orphans.

An allocation's owner is ``<slug>/<index>`` in pool ``<env>/<region>``: server ``index`` of the
tenant stack ``<env>.<slug>``. It is *held* while that stack's state (its resources or its pending
operations) records an Allocation with that pool and owner, or a VM at its id. It is an *orphan*
when the stack does not exist, or exists, is not locked by an update, and records neither: nothing
can use it any more (a destroy or scale-down that leaked it). The VM check keeps the rows of live
VMs whose Allocation a refresh dropped from state before allocation ids were encoded. Everything else
is left alone: a locked stack
(an update may be allocating right now), an owner not of the form ``<slug>/<index>``, or a backend
whose locks cannot be read. The sweep re-reads a stack's lock and state right before freeing its
rows, and frees a row only if it still holds the id and address it was judged with.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Protocol

from components.environment import Environment
from components.naming import ALLOCATION_TYPE, VM_TYPE, parse_allocation_owner, stack_name
from ipam.store import Allocation, AllocationStore
from provisioning.state_backend import lock_records, readable_locks

HELD, ORPHAN, LOCKED, UNKNOWN = "held", "orphan", "stack locked", "not judged"


class SweepRefused(RuntimeError):
    """The sweep cannot prove anything on this backend; the message says why and what to check."""


class StackStates(Protocol):
    """Read access to the tenant stacks of the state backend."""

    def names(self) -> set[str]:
        """Names (``<env>.<slug>``) of every stack of the project."""

    def recorded(self, stack: str) -> Recorded:
        """What ``stack``'s state records."""

    def locked(self, stack: str) -> bool | None:
        """Whether an update holds ``stack``'s lock; None when the backend's locks cannot be read."""


@dataclass(frozen=True)
class Recorded:
    """What one stack's state holds that can keep an allocation in use."""

    allocations: set[tuple[str, str]]
    """(pool, owner) of its Allocation resources, pending operations included."""
    vmids: set[int]
    """Ids of its VMs."""

    def holds(self, allocation: Allocation) -> bool:
        """Whether ``allocation`` is recorded, or a VM at its id is."""
        return (allocation.pool, allocation.owner) in self.allocations or allocation.vmid in self.vmids


@dataclass(frozen=True)
class Judged:
    """One allocation with the verdict on its owner."""

    allocation: Allocation
    verdict: str
    reason: str


@dataclass(frozen=True)
class PoolCapacity:
    """What one region's pool has handed out and what is left."""

    pool: str
    allocated: int
    free_vmids: int
    free_addresses: int


def recorded_allocations(deployment: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(pool, owner) of every Allocation in an exported deployment, pending operations included."""
    found = set()
    for resource in _resources(deployment, ALLOCATION_TYPE):
        for props in (resource.get("outputs") or {}, resource.get("inputs") or {}):
            if isinstance(props.get("pool"), str) and isinstance(props.get("owner"), str):
                found.add((props["pool"], props["owner"]))
    return found


def recorded(deployment: Mapping[str, Any]) -> Recorded:
    """The allocations and VM ids an exported deployment records."""
    vmids = {int(r["id"]) for r in _resources(deployment, VM_TYPE) if str(r.get("id", "")).isdigit()}
    return Recorded(recorded_allocations(deployment), vmids)


def _resources(deployment: Mapping[str, Any], type_token: str) -> list[Mapping[str, Any]]:
    resources = [
        *(deployment.get("resources") or []),
        *((op.get("resource") or {}) for op in deployment.get("pending_operations") or []),
    ]
    return [r for r in resources if r.get("type") == type_token]


def env_allocations(store: AllocationStore, env_name: str) -> list[Allocation]:
    """The allocations of ``env_name``'s pools (``<env>/<region>``)."""
    return [a for a in store.everything() if a.pool.startswith(f"{env_name}/")]


def judge(env_name: str, allocations: Iterable[Allocation], states: StackStates) -> list[Judged]:
    """The verdict on every allocation (see the module docstring)."""
    allocations = list(allocations)
    names = states.names() if allocations else set()
    judged: list[Judged] = []
    for stack, rows in groupby(
        sorted(allocations, key=lambda a: _stack(env_name, a) or ""), key=lambda a: _stack(env_name, a)
    ):
        judged.extend(_judge_stack(stack, list(rows), names, states))
    return sorted(judged, key=lambda j: (j.allocation.pool, j.allocation.vmid))


def _stack(env_name: str, allocation: Allocation) -> str | None:
    owner = parse_allocation_owner(allocation.owner)
    return stack_name(env_name, owner[0]) if owner else None


def _judge_stack(stack: str | None, rows: list[Allocation], names: set[str], states: StackStates) -> list[Judged]:
    if stack is None:
        return [Judged(a, UNKNOWN, "owner is not <slug>/<index>") for a in rows]
    if stack not in names:
        return [Judged(a, ORPHAN, f"stack {stack} does not exist") for a in rows]
    locked = states.locked(stack)
    if locked is None:
        return [Judged(a, UNKNOWN, "this backend's locks cannot be read") for a in rows]
    if locked:
        return [Judged(a, LOCKED, f"an update of {stack} is running") for a in rows]
    record = states.recorded(stack)
    return [
        Judged(a, HELD, f"recorded in {stack}")
        if record.holds(a)
        else Judged(a, ORPHAN, f"{stack} records no server {a.owner.rsplit('/', 1)[1]} in {a.pool}")
        for a in rows
    ]


def free_orphans(store: AllocationStore, env_name: str, states: StackStates, *, dry_run: bool) -> list[Judged]:
    """Free the orphans of ``env_name`` (or only list them with ``dry_run``); the orphans freed (or found).

    Refused when the backend holds no stack of the environment at all while allocations exist: that
    is a backend pointed at the wrong place far more often than a fleet of leaks.
    """
    allocations = env_allocations(store, env_name)
    names = states.names() if allocations else set()
    if allocations and not any(n.startswith(f"{env_name}.") for n in names):
        raise SweepRefused(
            f"the state backend holds no stack of environment {env_name!r} but {len(allocations)} "
            "allocations exist: check PULUMI_BACKEND_URL and ALLOCATIONS_DB point at the same cloud"
        )
    orphans = [j for j in judge(env_name, allocations, states) if j.verdict == ORPHAN]
    if dry_run:
        return orphans
    freed: list[Judged] = []
    for _stack_name, rows in groupby(
        sorted(orphans, key=lambda j: _stack(env_name, j.allocation) or ""),
        key=lambda j: _stack(env_name, j.allocation),
    ):
        again = judge(env_name, [j.allocation for j in rows], states)  # fresh lock and state
        freed.extend(j for j in again if j.verdict == ORPHAN and store.release_exactly(j.allocation))
    return freed


def capacity(environment: Environment, allocations: Iterable[Allocation]) -> list[PoolCapacity]:
    """Per region: allocations held, and the VM ids and addresses still free for new servers."""
    allocations = list(allocations)
    result = []
    for region in environment.regions.values():
        pool = f"{environment.name}/{region.name}"
        held = [a for a in allocations if a.pool == pool]
        hosts = ipaddress.ip_network(region.network).num_addresses - 2
        usable = max(hosts - region.reserved, 0)
        gateway_usable = _host_index(region.network, region.gateway) >= region.reserved
        result.append(
            PoolCapacity(
                pool,
                len(held),
                region.vmid_end - region.vmid_start + 1 - len(held),
                usable - int(gateway_usable) - len(held),
            )
        )
    return result


def _host_index(network: str, address: str) -> int:
    return int(ipaddress.ip_address(address)) - int(ipaddress.ip_network(network).network_address) - 1


class BackendStackStates:
    """:class:`StackStates` of the configured backend: names and state through the CLI, locks from the backend."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.project = workspace.project_settings().name

    def names(self) -> set[str]:
        """Every stack of the project on the backend."""
        return {s.name.split("/")[-1] for s in self.workspace.list_stacks()}

    def recorded(self, stack: str) -> Recorded:
        """What ``stack``'s exported state records."""
        return recorded(self.workspace.export_stack(stack).deployment or {})

    def locked(self, stack: str) -> bool | None:
        """Whether ``stack`` has lock records (None: this backend's locks are not readable)."""
        if not readable_locks():
            return None
        return bool(lock_records(self.project, stack))
