"""The workers' schedule for :meth:`provisioning.stacks.TenantStacks.sweep_keys`: at start, then every interval.

Revokes the per-run Dokploy keys whose revocation failed (Dokploy was down at the end of a run) and
the keys of runs that were killed. A sweep that fails (Dokploy still down) is logged and tried again
at the next interval; the thread never dies.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from provisioning.dokploy_keys import SweepReport
from service.periodic import start_periodic

log = logging.getLogger(__name__)


class Sweeps(Protocol):
    """What the sweeper calls (``TenantStacks``)."""

    def sweep_keys(self) -> SweepReport:
        """Revoke what is due; report what was and was not revoked."""


def sweep_once(stacks: Sweeps) -> SweepReport | None:
    """One sweep, logged; None when it could not run at all."""
    try:
        report = stacks.sweep_keys()
    except Exception as exc:  # e.g. credentials not decryptable right now: try again next time
        log.warning("key sweep could not run (%s: %s)", type(exc).__name__, exc)
        return None
    if report.revoked:
        log.info("key sweep: revoked %s", ", ".join(report.revoked))
    if report.failed:
        log.warning("key sweep: not revoked yet (retried next sweep): %s", "; ".join(report.failed))
    return report


def start_key_sweeper(stacks: Sweeps, interval: float, stop: threading.Event) -> threading.Thread:
    """Sweep now and every ``interval`` seconds until ``stop`` is set."""
    return start_periodic("dokploy-key-sweeper", lambda: sweep_once(stacks), interval, stop)
