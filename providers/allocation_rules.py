"""Pure rules of the allocation provider: input checks, diff, the resource id and the state outputs.

No I/O here; :mod:`providers.allocation` opens the store and asks Proxmox, as these rules need.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from providers.wire import whole_numbers

if TYPE_CHECKING:
    from ipam.store import PoolSpec

REPLACE_KEYS = ("pool", "owner", "network", "gateway")
UPDATE_KEYS = ("vmid_start", "vmid_end", "reserved", "nodes", "memory_mb")
INT_KEYS = ("vmid_start", "vmid_end", "reserved", "memory_mb")


def check_inputs(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalise inputs and list (property, reason) failures."""
    failures: list[tuple[str, str]] = []
    inputs = {"reserved": 10, **news}
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


def pool_spec(props: dict[str, Any]) -> PoolSpec:
    """The pool's ranges as the store takes them."""
    from ipam.store import PoolSpec  # SQLAlchemy only where the store is used, not in every program start

    return PoolSpec(
        int(props["vmid_start"]), int(props["vmid_end"]), props["network"], props["gateway"], int(props["reserved"])
    )


def allocation_outputs(props: dict[str, Any], vmid: int, address: str, node: str) -> dict[str, Any]:
    """State outputs: the inputs plus what was allocated (``cidr`` is the address with the network's prefix)."""
    prefix = ipaddress.ip_network(props["network"]).prefixlen
    return {**props, "vmid": int(vmid), "address": address, "cidr": f"{address}/{prefix}", "node": node}
