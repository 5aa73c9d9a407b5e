"""The service's schedule for the warm pools: refill every region's pool in the background.

Every ``SERVICE_WARM_POOL_SECONDS`` (default 20) the workers bring each region's pool back to its size
(:meth:`provisioning.warm_pool.WarmPool.fill`): claims by signups are replaced, leftovers of a filler that
died are cleared, idle VMs are replaced. Several worker processes may run it: the region's pool lock
lets one fill at a time. A failed fill is logged and tried again at the next interval.
"""

from __future__ import annotations

import logging
import threading

from provisioning.stacks import TenantStacks
from service.periodic import start_periodic

log = logging.getLogger(__name__)


def fill_once(stacks: TenantStacks) -> list[int]:
    """Fill every region's pool; the VM ids made."""
    made: list[int] = []
    pool = stacks.warm_pool()
    for name, region in stacks.environment.regions.items():
        if region.warm_pool is None:
            continue
        try:
            made += pool.fill(name, log.info)
        except Exception as exc:  # Proxmox or Dokploy unreachable, capacity: the next interval tries again
            log.warning("warm pool %s could not be filled (%s: %s)", name, type(exc).__name__, exc)
    return made


def start_warm_keeper(stacks: TenantStacks, interval: float, stop: threading.Event) -> threading.Thread | None:
    """Refill the pools every ``interval`` seconds until ``stop`` is set; None when no region has a pool."""
    if not any(region.warm_pool for region in stacks.environment.regions.values()):
        return None
    return start_periodic("warm-pool", lambda: fill_once(stacks), interval, stop, first_delay=0.0)
