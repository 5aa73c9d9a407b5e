"""VM-hours per tenant and plan, reported to Stripe as billing meter events that cannot double-bill.

The report job that feeds it from the queue's recorded changes is :mod:`billing.adapter.usage_report`.

Each report covers one whole clock hour. Its identity — ``(tenant, plan, hour window)`` — yields both
the meter event ``identifier`` (Stripe drops a second event with the same identifier) and the request's
``Idempotency-Key`` (Stripe replays the first response for a retried request), so re-sending a report,
by our retry or the stripe library's, bills once. A VM that ran during any part of the hour counts as
one VM-hour for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import stripe

from billing.stripe_api import StripeUnavailable

HOUR = 3600
DEFAULT_EVENT_NAME = "vm_hours"


@dataclass(frozen=True)
class UsageReport:
    """VM-hours of one tenant on one plan during the hour starting at ``window_start`` (epoch seconds)."""

    tenant: str
    plan: str
    customer: str
    window_start: int
    vm_hours: int

    def __post_init__(self) -> None:
        if self.window_start % HOUR:
            raise ValueError(
                f"window_start must be on a whole hour (epoch seconds divisible by 3600), got {self.window_start}"
            )
        if self.vm_hours < 0:
            raise ValueError(f"vm_hours must be >= 0, got {self.vm_hours}")
        if not self.customer:
            raise ValueError("customer (the Stripe customer id) is required")


def vm_hours_by_plan(changes: Sequence[tuple[float, str, int]], window_start: int) -> dict[str, int]:
    """One tenant's VM-hours per plan in the hour at ``window_start``, from its recorded changes.

    ``changes`` are ``(at, plan, vms running from then on)`` in time order (0 VMs: suspended or gone).
    A tenant's servers are numbered 1..n and scaling removes the highest, so the VMs that ran during
    any part of the hour on a plan are the most that ran at once on it: that is the plan's VM-hours.
    """
    window_end = window_start + HOUR
    hours: dict[str, int] = {}
    current: tuple[str, int] | None = None
    for at, plan, vms in changes:
        if at >= window_end:
            break
        if at > window_start and current is not None:
            hours[current[0]] = max(hours.get(current[0], 0), current[1])
        current = (plan, vms)
    if current is not None:
        hours[current[0]] = max(hours.get(current[0], 0), current[1])
    return {plan: n for plan, n in hours.items() if n > 0}


def idempotency_key(tenant: str, plan: str, window_start: int) -> str:
    """Stable key for one ``(tenant, plan, hour)``: the same report always gets the same key."""
    digest = hashlib.sha256(f"vm-hours|{tenant}|{plan}|{window_start}".encode()).hexdigest()
    return f"vmh-{digest[:40]}"


def meter_event_params(report: UsageReport, event_name: str = DEFAULT_EVENT_NAME) -> dict[str, Any]:
    """The ``POST /v1/billing/meter_events`` parameters for ``report`` (a pure function of the report)."""
    return {
        "event_name": event_name,
        "identifier": idempotency_key(report.tenant, report.plan, report.window_start),
        "timestamp": report.window_start + HOUR - 1,
        "payload": {
            "stripe_customer_id": report.customer,
            "value": str(report.vm_hours),
            "tenant": report.tenant,
            "plan": report.plan,
        },
    }


class UsageReporter:
    """Sends :class:`UsageReport` s as meter events with a deterministic Idempotency-Key."""

    def __init__(self, client: stripe.StripeClient, event_name: str = DEFAULT_EVENT_NAME) -> None:
        self._client, self.event_name = client, event_name

    def report(self, report: UsageReport) -> Any:
        """Send one report; safe to call again with the same report (returns Stripe's meter event)."""
        params = meter_event_params(report, self.event_name)
        try:
            return self._client.v1.billing.meter_events.create(
                params,  # type: ignore[arg-type]  # a plain dict of the documented fields, not stripe's TypedDict
                {"idempotency_key": idempotency_key(report.tenant, report.plan, report.window_start)},
            )
        except stripe.StripeError as exc:
            raise StripeUnavailable(
                f"reporting usage for tenant {report.tenant} at {report.window_start} failed: "
                f"{type(exc).__name__} (HTTP {exc.http_status})"
            ) from None
