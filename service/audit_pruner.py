"""The service's schedule for the audit retention period: prune once a day (the first an hour after start).

A prune that cannot run (the fleet database unreachable) is logged and tried again the next day.
"""

from __future__ import annotations

import logging
import threading

from provisioning.fleet_db import fleet_database
from provisioning.stacks import TenantStacks
from service.periodic import start_periodic

log = logging.getLogger(__name__)
DAY = 86400.0


def prune_once(stacks: TenantStacks, retention_days: float) -> int | None:
    """Drop audit records older than ``retention_days``; how many (None: could not run)."""
    try:
        removed = fleet_database(stacks).prune(retention_days, "service:audit-retention")
    except Exception as exc:  # database down right now: tomorrow's run catches up
        log.warning("audit retention could not run (%s: %s)", type(exc).__name__, exc)
        return None
    if removed:
        log.info("audit retention: removed %d records older than %g days", removed, retention_days)
    return removed


def start_audit_pruner(stacks: TenantStacks, retention_days: float, stop: threading.Event) -> threading.Thread:
    """Prune daily until ``stop`` is set."""
    return start_periodic("audit-pruner", lambda: prune_once(stacks, retention_days), DAY, stop, first_delay=3600.0)
