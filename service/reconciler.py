"""The service's schedule for fleet reconciliation: at start, then every interval; report only.

Each run reads the four inventories and the declarations (git tenants and the service's own,
:func:`provisioning.reconcile.reconcile`) and stores the report in the fleet database, where the operator
API (``GET /v1/reconcile``), the operator page and the fleet exporter read it. Fixing is an operator's
decision (``cloudctl reconcile --fix CLASS``): flag, don't guess. A run that fails is logged and tried
again at the next interval; the thread never dies.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from provisioning.fleet_db import fleet_database
from provisioning.reconcile import Report, reconcile
from provisioning.stacks import TenantStacks
from service.periodic import start_periodic

log = logging.getLogger(__name__)
FIRST_RUN_DELAY = 60.0


def reconcile_once(stacks: TenantStacks, tenants_dir: Path, service_database: str) -> Report | None:
    """One reconcile run, stored and logged; None when it could not run."""
    try:
        report = reconcile(stacks, tenants_dir, service_database=service_database)
        fleet_database(stacks).save_report(report.to_json())
    except Exception as exc:  # a database or backend outage: the next interval tries again
        log.warning("reconcile could not run (%s: %s)", type(exc).__name__, exc)
        return None
    if report.in_sync:
        log.info("reconcile: in sync (%s tenants, %.1f s)", len(report.tenants), report.seconds)
    else:
        counts = ", ".join(f"{n} {c}" for c, n in report.by_class().items() if n)
        log.warning(
            "reconcile: %s%s; `cloudctl reconcile` shows them",
            counts or "no findings",
            f"; {len(report.errors)} inventory(ies) unreadable" if report.errors else "",
        )
    return report


def start_reconciler(
    stacks: TenantStacks, tenants_dir: Path, service_database: str, interval: float, stop: threading.Event
) -> threading.Thread:
    """Reconcile every ``interval`` seconds until ``stop`` is set; the first run waits :data:`FIRST_RUN_DELAY`
    (or the interval, if shorter) so that start-up's own recovery and queued jobs go first."""
    return start_periodic(
        "reconciler",
        lambda: reconcile_once(stacks, tenants_dir, service_database),
        interval,
        stop,
        first_delay=min(FIRST_RUN_DELAY, interval),
    )
