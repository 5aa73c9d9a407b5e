"""Choosing a tenant's region when its signup says ``region: auto``: the cluster that can take all its servers.

For each candidate region (the signup's preference list in its order, else every region of the environment)
the region's nodes are read as placement reads them (memory, vCPUs, datastore space; allocations whose VMs do
not exist yet and drained nodes count) and the tenant's servers are placed one by one with the usual policy
(:mod:`ipam.placement`, spreading them over nodes). A region that cannot take every server, or cannot be read,
is passed over with the reason. With a preference list the first region that fits wins; without one the region
left with the highest placement score. The choice and every region's verdict are returned for the audit trail
and the signup's answer; nothing is reserved (the tenant's own run allocates, as for any region).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from proxmoxer import ProxmoxAPI

from components.environment import Environment
from components.naming import allocation_pool
from components.spec import Plan
from ipam.placement import PlacementError, PlacementRequest, decide, with_pending
from ipam.store import AllocationStore
from providers.allocation import read_cluster


class RegionChoiceError(RuntimeError):
    """No candidate region can take the tenant; the message gives each region's reason."""


@dataclass(frozen=True)
class RegionChoice:
    """The chosen region, why, and what was concluded about every candidate."""

    region: str
    reason: str
    verdicts: dict[str, str] = field(default_factory=dict)


def choose_region(
    environment: Environment,
    store: AllocationStore,
    proxmox: Callable[[str], ProxmoxAPI],
    plan_name: str,
    servers: int,
    tenant: str,
    preference: Sequence[str] = (),
) -> RegionChoice:
    """The region for ``servers`` servers of plan ``plan_name`` (module docstring)."""
    unknown = [r for r in preference if r not in environment.regions]
    if unknown:
        raise RegionChoiceError(f"unknown region(s) {unknown}: regions are {sorted(environment.regions)}")
    plan = environment.plans[plan_name]
    candidates = list(dict.fromkeys(preference)) or sorted(environment.regions)
    verdicts: dict[str, str] = {}
    scores: dict[str, float] = {}
    for name in candidates:
        try:
            scores[name], verdicts[name] = _fit(environment, store, proxmox(name), name, plan, servers, tenant)
        except PlacementError as exc:
            verdicts[name] = f"does not fit: {exc}"
        except Exception as exc:  # an unreachable cluster is passed over, not guessed about
            verdicts[name] = f"not read ({type(exc).__name__}: {str(exc)[:120]})"
    if not scores:
        detail = "; ".join(f"{r}: {v}" for r, v in verdicts.items())
        raise RegionChoiceError(f"no region can take {servers} {plan_name} server(s): {detail}")
    if preference:
        chosen = next(r for r in candidates if r in scores)
        why = "the first region of the preference list that fits" + (
            f" ({', '.join(r for r in candidates[: candidates.index(chosen)])} did not)"
            if chosen != candidates[0]
            else ""
        )
    else:
        chosen = max(sorted(scores), key=lambda r: scores[r])
        why = f"the most capacity left after placement (score {scores[chosen]:.2f})"
    return RegionChoice(chosen, f"{chosen}: {why}; {verdicts[chosen]}", verdicts)


def _fit(
    environment: Environment,
    store: AllocationStore,
    api: ProxmoxAPI,
    name: str,
    plan: Plan,
    servers: int,
    tenant: str,
) -> tuple[float, str]:
    region = environment.regions[name]
    memory, cores, disk = plan.memory_mb, plan.cores, plan.disk_gb
    cluster = read_cluster(api, region.datastore)
    loads = cluster.loads
    promised = store.promised(allocation_pool(environment.name, name), f"{tenant}/0", cluster.vmids)
    pending_memory, pending_cores = dict(promised.memory_mb), dict(promised.cores)
    drained = promised.unschedulable
    placed: dict[str, int] = {}
    scores = []
    for _ in range(servers):
        request = PlacementRequest(memory, cores, disk, tenant, placed, drained, region.strict_spread)
        decision = decide(with_pending(loads, pending_memory, pending_cores), region.nodes, request)
        chosen = next(c for c in decision.candidates if c.node == decision.node)
        scores.append(chosen.score)
        placed[decision.node] = placed.get(decision.node, 0) + 1
        pending_memory[decision.node] = pending_memory.get(decision.node, 0) + memory
        pending_cores[decision.node] = pending_cores.get(decision.node, 0) + cores
    nodes = ", ".join(f"{n} x{k}" if k > 1 else n for n, k in sorted(placed.items()))
    return sum(scores) / len(scores), f"fits on {nodes}"
