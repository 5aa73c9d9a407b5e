"""VMs cloned for a tenant that no state records, deleted with the tenant when it is destroyed.

A run that failed (not died) right after bpg's clone, before bpg recorded the VM (the clone task's status answered
5xx), leaves a VM at an id allocated to the tenant. The next ``up`` adopts it (bpg treats the clone's "already
exists" as done), but a destroy cannot see it: the state does not hold it, the destroy releases the id, and the
VM is orphaned. Before a destroy, such VMs are deleted if they are provably this tenant's: at an id allocated to
one of its servers, and either tagged for it (as recovery demands) or, since bpg writes tags only after the clone,
in the region's pool and named as the program names that server (``<slug>-<n>-<suffix>``, the suffix the state's
random resource holds). Anything else is left and logged, for reconcile to report.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from proxmoxer import ProxmoxAPI

from clients.proxmox import cluster_vms
from provisioning.recovery import TASK_WAIT_SECONDS, TenantMarks, delete_vm, deployment_vmids, tags_and_pool

log = logging.getLogger(__name__)
SUFFIX_TYPE = "random:index/randomString:RandomString"


def tenant_suffix(deployment: Mapping[str, Any], slug: str) -> str | None:
    """The tenant's random name suffix as the state holds it."""
    for r in deployment.get("resources") or []:
        if r.get("type") == SUFFIX_TYPE and str(r.get("urn", "")).endswith(f"::{slug}-suffix"):
            return str((r.get("outputs") or {}).get("result") or "") or None
    return None


def delete_unrecorded(
    api: ProxmoxAPI,
    deployment: Mapping[str, Any],
    allocated: Mapping[int, int],
    marks: TenantMarks,
    timeout: float = TASK_WAIT_SECONDS,
) -> list[int]:
    """Delete the VMs at ``allocated`` ids (VM id -> server index) that ``deployment`` does not record and that
    are provably the tenant's; the VM ids deleted."""
    recorded = deployment_vmids(deployment)
    candidates = {vmid: index for vmid, index in allocated.items() if vmid not in recorded}
    if not candidates:
        return []
    suffix = tenant_suffix(deployment, marks.slug)
    deleted = []
    for vm in cluster_vms(api):
        vmid = int(vm["vmid"])
        if vmid not in candidates:
            continue
        tags, pool = tags_and_pool(api, vmid)
        named = suffix is not None and str(vm.get("name", "")) == f"{marks.slug}-{candidates[vmid] + 1}-{suffix}"
        if marks.gaps(tags, pool) and not (named and pool == marks.pool):
            log.warning(
                "VM %s sits at an id allocated to %s but no state records it and nothing proves it is the "
                "tenant's (%s); left for an operator",
                vmid,
                marks.slug,
                "; ".join(marks.gaps(tags, pool)),
            )
            continue
        log.warning("deleting VM %s: cloned for %s by a run that failed before recording it", vmid, marks.slug)
        delete_vm(api, str(vm["node"]), vmid, timeout)
        deleted.append(vmid)
    return deleted
