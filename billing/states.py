"""Where billing has put a tenant in its lifecycle (:attr:`billing.decide.BillingState.lifecycle`).

``active`` tenants run; ``suspended`` tenants keep their servers, addresses, DNS names and Dokploy
registration, but their VMs are stopped (the sink declares ``state: suspended``); ``decommissioned``
tenants are destroyed and removed. Billing moves between them in :func:`billing.decide.decide`.
"""

from __future__ import annotations

from enum import Enum


class TenantState(str, Enum):
    """Where a tenant is in its billing lifecycle."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECOMMISSIONED = "decommissioned"
