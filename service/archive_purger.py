"""The service's schedule for the archive purge: at start, then every interval.

Removes decommissioned tenants' archives past their delete-after date (:meth:`TenantBackups.purge`). A purge
that fails (Proxmox unreachable) is logged and tried again at the next interval; the thread never dies.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from provisioning.archive import Archive
from service.periodic import start_periodic

log = logging.getLogger(__name__)


class Purges(Protocol):
    """What the purger calls (``TenantBackups``)."""

    def purge(self) -> list[Archive]:
        """Remove the archives past their date; return them."""


def purge_once(backups: Purges) -> list[Archive] | None:
    """One purge, logged; None when it could not run."""
    try:
        removed = backups.purge()
    except Exception as exc:  # Proxmox or credentials unavailable right now: the next interval tries again
        log.warning("archive purge could not run (%s: %s)", type(exc).__name__, exc)
        return None
    for archive in removed:
        log.info(
            "archive purge: removed %s (tenant %s server %d, kept until %s)",
            archive.volid,
            archive.slug,
            archive.server,
            archive.delete_after,
        )
    return removed


def start_archive_purger(backups: Purges, interval: float, stop: threading.Event) -> threading.Thread:
    """Purge now and every ``interval`` seconds until ``stop`` is set."""
    return start_periodic("archive-purger", lambda: purge_once(backups), interval, stop)
