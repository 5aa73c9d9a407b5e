"""Fleet reconciliation: compare the tenant stacks, Proxmox, Dokploy and DNS, and report every difference.

Four inventories plus the declarations (:mod:`.inventory`) are judged by pure rules (:mod:`.classify`)
into findings of one class each (:data:`.model.CLASSES`: what each means and what ``--fix`` does). The
default run only reports; :mod:`.fixes` applies one class's documented action on a fresh report and
records each attempt in the audit trail (:mod:`provisioning.fleet_db`). ``cloudctl reconcile`` and the
service's scheduled reconcile (``service.reconciler``) both run :func:`reconcile`.
"""

from __future__ import annotations

import time
from pathlib import Path

from provisioning.reconcile.classify import classify
from provisioning.reconcile.inventory import read_inventory
from provisioning.reconcile.model import CLASSES, Finding, Report
from provisioning.stacks import TenantStacks

__all__ = ["CLASSES", "Finding", "Report", "reconcile"]


def reconcile(stacks: TenantStacks, tenants_dir: Path, *, service_database: str | None = None) -> Report:
    """Read every inventory of ``stacks``' environment and judge it (read-only but for short-lived keys)."""
    started = time.monotonic()
    report = classify(read_inventory(stacks, tenants_dir, service_database=service_database))
    report.seconds = time.monotonic() - started
    return report
