"""What every request handler reaches through ``request.app.state.service``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from components.environment import Environment
from service.api.rate_limit import SourceRateLimit
from service.metrics import Metrics
from service.queue import JobQueue
from service.settings import Settings

if TYPE_CHECKING:
    from billing.adapter.runtime import BillingRuntime
    from billing.adapter.usage_report import UsageJob
    from provisioning.fleet_db import FleetDatabase
    from provisioning.tenant_backups import TenantBackups


@dataclass
class ServiceContext:
    """Settings, queue, environment and metrics shared by the handlers."""

    settings: Settings
    queue: JobQueue
    environment: Environment
    metrics: Metrics
    ready_checks: dict[str, Callable[[], None]] = field(default_factory=dict)
    """Name -> check raising when not ready (queue reachable, toolchain present)."""
    billing: BillingRuntime | None = None
    """Stripe billing (webhook, outbox, suspension timer); None when billing is not configured."""
    usage: UsageJob | None = None
    """The VM-hours report job (runs while the app serves); None without billing and STRIPE_API_KEY."""
    backups: TenantBackups | None = None
    """Proxmox access for the backup endpoints' reads; None answers them 503."""
    signup_limit: SourceRateLimit = field(init=False)
    """``SERVICE_SIGNUP_RATE`` per source address."""
    audit: FleetDatabase | None = None
    """The audit trail (default: the fleet database of ``backups``' environment; None without either)."""

    def __post_init__(self) -> None:
        self.signup_limit = SourceRateLimit("signup", self.settings.signup_rate)


def context(request: Request) -> ServiceContext:
    """The service context of the app serving ``request``."""
    ctx: ServiceContext = request.app.state.service
    return ctx
