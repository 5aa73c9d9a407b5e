"""VMs a stack records that the cluster no longer has: forgotten before a destroy, so the destroy can finish.

An attempt that deleted a VM and then failed before recording it (Proxmox answered 5xx while bpg waited for the
delete) leaves a state whose VM is gone. With the least-privilege token, Proxmox answers every request about a
VM that is not in the token's pool with 403, not 404, so bpg can neither read nor delete it, and every later
destroy fails. Before a destroy, VMs absent from the cluster's listing are dropped from the state together with
their firewall options and rules (which went with the VM); every other resource (the Dokploy server, the DNS
record, the allocation) stays, and the destroy removes it. Only the state is edited: nothing in the cluster is
touched, so a VM that still exists somewhere the token cannot see is left, and reconcile reports it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from components.naming import FIREWALL_OPTIONS_TYPE, FIREWALL_RULES_TYPE, VM_TYPE

log = logging.getLogger(__name__)
FIREWALL_TYPES = (FIREWALL_OPTIONS_TYPE, FIREWALL_RULES_TYPE)


def vanished(deployment: Mapping[str, Any], present: set[int]) -> dict[int, set[str]]:
    """VM id -> the URNs to forget with it (the VM, its firewall options and rules), for VMs not ``present``."""
    resources = list(deployment.get("resources") or [])
    gone = {int(r["id"]): {str(r["urn"])} for r in resources if _vmid(r) is not None and _vmid(r) not in present}
    for r in resources:
        vmid = (r.get("inputs") or {}).get("vmId")
        if r.get("type") in FIREWALL_TYPES and isinstance(vmid, int) and vmid in gone:
            gone[vmid].add(str(r["urn"]))
    return gone


def without(deployment: Mapping[str, Any], urns: set[str]) -> dict[str, Any]:
    """``deployment`` without the resources ``urns``, and without every dependency on them."""
    kept = []
    for r in deployment.get("resources") or []:
        if r.get("urn") in urns:
            continue
        r = dict(r)
        if r.get("dependencies"):
            r["dependencies"] = [d for d in r["dependencies"] if d not in urns]
        if r.get("propertyDependencies"):
            r["propertyDependencies"] = {
                k: [d for d in v if d not in urns] for k, v in r["propertyDependencies"].items()
            }
        kept.append(r)
    return {**deployment, "resources": kept}


def forget_vanished(stack: auto.Stack, present: set[int]) -> list[int]:
    """Drop the VMs ``present`` lacks (and their firewall resources) from ``stack``'s state; the VM ids."""
    exported = stack.export_stack()
    deployment = dict(exported.deployment or {})
    gone = vanished(deployment, present)
    if not gone:
        return []
    urns = set().union(*gone.values())
    for vmid in sorted(gone):
        log.warning(
            "%s: VM %s is no longer in the cluster; forgetting it and its firewall before the destroy", stack.name, vmid
        )
    stack.import_stack(auto.Deployment(version=exported.version, deployment=without(deployment, urns)))
    return sorted(gone)


def _vmid(resource: Mapping[str, Any]) -> int | None:
    ident = str(resource.get("id", ""))
    return int(ident) if resource.get("type") == VM_TYPE and ident.isdigit() else None
