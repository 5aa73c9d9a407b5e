"""What a failed or killed run created but never recorded, cleared before an ``up`` so that bpg can create it.

Two of bpg's creates refuse what exists: firewall rules and the tenant's backup job. Firewall rules that no
state records, on tenant VMs that the state does record, and a backup job with the tenant's id that the state
does not record, are removed before an ``up``.

bpg's rules resource refuses to create over existing rules ("Existing rules detected. Aborting..."). A run that
failed or died while writing them (some rules written, the create not recorded) therefore leaves a tenant whose
every later ``up`` fails. Before an ``up``, the VMs the stack records but whose rules resource it does not are
looked at; rules found there were written by an earlier run of this stack (the program owns every rule of its
tenants' VMs), so they are removed, and the ``up`` writes them again. Only VMs whose tags and pool prove they are
this tenant's are touched. Until the ``up`` writes the rules, the VM's firewall drops inbound traffic (its
policy): nothing is opened meanwhile. The happy path costs no Proxmox call: every recorded VM has its rules.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from proxmoxer import ProxmoxAPI, ResourceException

from components.naming import BACKUP_TYPE, FIREWALL_RULES_TYPE, VM_TYPE
from provisioning.recovery import TenantMarks, tags_and_pool

log = logging.getLogger(__name__)


def vms_without_rules(deployment: Mapping[str, Any]) -> list[tuple[str, int]]:
    """(node, VM id) of the VMs ``deployment`` records whose firewall rules resource it does not."""
    resources = list(deployment.get("resources") or [])
    ruled = {int((r.get("inputs") or {}).get("vmId", -1)) for r in resources if r.get("type") == FIREWALL_RULES_TYPE}
    out = []
    for r in resources:
        node = (r.get("outputs") or {}).get("nodeName") or (r.get("inputs") or {}).get("nodeName")
        if r.get("type") == VM_TYPE and str(r.get("id", "")).isdigit() and node and int(r["id"]) not in ruled:
            out.append((str(node), int(r["id"])))
    return out


def clear_unrecorded_rules(api: ProxmoxAPI, deployment: Mapping[str, Any], marks: TenantMarks) -> list[int]:
    """Remove the rules of each recorded VM without a recorded rules resource, if provably the tenant's; the VM
    ids cleared. A VM that is not provably the tenant's is logged and left alone (its ``up`` will say why)."""
    cleared = []
    for node, vmid in vms_without_rules(deployment):
        rules = api.nodes(node).qemu(vmid).firewall.rules
        found = rules.get()
        if not found:
            continue
        gaps = marks.gaps(*tags_and_pool(api, vmid))
        if gaps:
            log.warning(
                "VM %s holds firewall rules no state of %s records, but it is not provably this tenant's (%s); "
                "left alone",
                vmid,
                marks.slug,
                "; ".join(gaps),
            )
            continue
        for rule in sorted(found, key=lambda r: -int(r["pos"])):
            rules(int(rule["pos"])).delete()
        log.warning(
            "%s: removed %d firewall rule(s) an earlier run left on VM %s unrecorded", marks.slug, len(found), vmid
        )
        cleared.append(vmid)
    return cleared


def backup_job_recorded(deployment: Mapping[str, Any]) -> bool:
    """Whether ``deployment`` records the tenant's scheduled-backup job."""
    return any(r.get("type") == BACKUP_TYPE for r in deployment.get("resources") or [])


def clear_unrecorded_backup_job(api: ProxmoxAPI, job_id: str) -> bool:
    """Delete the backup job ``job_id`` (``dc_<env>_<slug>``: only this tenant's stack makes it) that a run created
    but never recorded: bpg's create refuses an existing id ("Job ... already exists"). True if one was deleted."""
    try:
        api.cluster.backup(job_id).get()
    except ResourceException as exc:
        if exc.status_code == 404 or "does not exist" in str(exc):  # PVE answers 500 "job '...' does not exist"
            return False
        raise
    api.cluster.backup(job_id).delete()
    log.warning("removed backup job %s an earlier run created but never recorded", job_id)
    return True
