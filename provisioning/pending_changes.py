"""Hardware changes Proxmox holds as pending on a tenant VM, applied after an ``up`` that retried a failed one.

On a running VM, Proxmox keeps a memory or CPU change pending until the next boot; bpg reboots the VM to apply it.
When that reboot fails (Proxmox answers 5xx), the run fails, and the retry's refresh reads the configuration
with pending values applied: the state matches the declaration, nothing is updated, and the tenant keeps
running on its old plan. After an ``up`` that refreshed (a retry, or the first run after a failed job), each VM
is looked at: pending hardware changes are applied by rebooting a running VM, or written again to a stopped one
(where Proxmox applies them at once). Cloud-init changes are not touched: they are for the next boot anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from proxmoxer import ProxmoxAPI

from provisioning.recovery import wait_task

log = logging.getLogger(__name__)
HARDWARE_KEYS = frozenset({"memory", "balloon", "cores", "sockets", "cpu", "vcpus", "numa"})
REBOOT_TIMEOUT = 900.0


def pending_hardware(api: ProxmoxAPI, node: str, vmid: int) -> dict[str, str]:
    """The VM's pending hardware values (key -> value), empty when none."""
    return {
        str(item["key"]): str(item["pending"])
        for item in api.nodes(node).qemu(vmid).pending.get()
        if item.get("key") in HARDWARE_KEYS and "pending" in item
    }


def apply_pending(api: ProxmoxAPI, vms: Iterable[tuple[str, int]], timeout: float = REBOOT_TIMEOUT) -> list[int]:
    """Apply pending hardware changes of ``vms`` ((node, VM id)); the VM ids changed."""
    applied = []
    for node, vmid in vms:
        pending = pending_hardware(api, node, vmid)
        if not pending:
            continue
        vm = api.nodes(node).qemu(vmid)
        if vm.status.current.get().get("status") == "running":
            log.warning("VM %s runs without its pending %s; rebooting it to apply them", vmid, sorted(pending))
            wait_task(api, vm.status.reboot.post(), timeout)
        else:
            log.warning("VM %s is stopped with pending %s; applying them", vmid, sorted(pending))
            vm.config.put(**pending)
        applied.append(vmid)
    return applied
