"""The VM-hours report job: recorded running intervals → one Stripe meter event per tenant, plan and hour.

Workers record, in the transaction that finishes each successful run, how many of the tenant's VMs run
on which plan from then on (:func:`running_after`; suspended and destroyed tenants run 0). This job,
started with the API by ``python -m service``, reports every closed hour after the watermark:

* each ``(tenant, plan, hour)`` is sent with a deterministic identifier and Idempotency-Key
  (:mod:`billing.usage`) and then recorded, so a crash between the two re-sends the same report,
  which Stripe bills once;
* the watermark moves past an hour only when all of its reports are recorded, so a Stripe outage or a
  restart leaves no gap; a tenant without a Stripe customer is recorded as unbilled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol

import yaml

from billing.config import StripeSettings
from billing.stripe_api import StripeUnavailable, stripe_client
from billing.usage import HOUR, UsageReport, UsageReporter, vm_hours_by_plan
from service.metrics import Metrics
from service.queue import JobQueue
from service.queue import usage as ledger
from service.queue.sql import SqlQueue
from service.settings import Settings

log = logging.getLogger(__name__)


def running_after(declaration: str, operation: str) -> tuple[str, int] | None:
    """(plan, VMs running) once a successful run applied ``declaration``; None if it cannot be read."""
    try:
        data: Any = yaml.safe_load(declaration)
        plan, servers, state = str(data["plan"]), int(data.get("servers", 1)), data.get("state", "active")
    except (yaml.YAMLError, KeyError, TypeError, ValueError):
        return None
    return plan, servers if operation == "up" and state == "active" else 0


class Reporter(Protocol):
    """Sends one report (``billing.usage.UsageReporter``); raises ``StripeUnavailable`` when it could not."""

    def report(self, report: UsageReport) -> Any: ...


class UsageJob:
    """Reports VM-hours of every closed hour after the watermark, oldest first."""

    def __init__(
        self,
        queue: SqlQueue,
        reporter: Reporter,
        customer_of: Callable[[str], str | None],
        metrics: Metrics | None = None,
        poll_seconds: float = 300.0,
    ) -> None:
        self.queue, self.reporter, self.customer_of = queue, reporter, customer_of
        self.metrics, self.poll_seconds = metrics, poll_seconds

    def run(self, now: float | None = None) -> int:
        """Report every closed hour not yet reported; how many reports were sent (raises on a Stripe failure).

        ``now`` defaults to the database's clock, the one the workers stamp changes with.
        """
        with self.queue.transaction(write=True) as tx:
            now = self.queue.now(tx) if now is None else now
            closed = int(now) // HOUR * HOUR  # the current hour is still open
            if ledger.watermark(tx) is None:
                first = ledger.first_change(tx)
                ledger.start_watermark(tx, closed if first is None else int(first) // HOUR * HOUR)
            window = int(ledger.watermark(tx)["next_window"])  # type: ignore[index]
            changes = ledger.changes_between(tx, window, closed)
        by_tenant: dict[str, list[tuple[float, str, int]]] = defaultdict(list)
        for slug, at, plan, vms in changes:
            by_tenant[slug].append((at, plan, vms))
        sent = 0
        while window < closed:
            for slug, history in sorted(by_tenant.items()):
                for plan, hours in sorted(vm_hours_by_plan(history, window).items()):
                    sent += self._report(slug, plan, window, hours)
            with self.queue.transaction(write=True) as tx:
                ledger.advance(tx, window, window + HOUR)
            window += HOUR
        with self.queue.transaction(write=True) as tx:
            ledger.caught_up(tx, now)
        return sent

    def _report(self, slug: str, plan: str, window: int, hours: int) -> int:
        with self.queue.transaction() as tx:
            if ledger.reported(tx, slug, plan, window):
                return 0
        customer = self.customer_of(slug)
        if customer is not None:
            try:
                self.reporter.report(UsageReport(slug, plan, customer, window, hours))
            except Exception:
                self._count("failed")
                raise
        with self.queue.transaction(write=True) as tx:
            ledger.record_report(tx, slug, plan, window, hours, customer, time.time())
        self._count("sent" if customer else "unbilled", plan, hours)
        return 1 if customer else 0

    def _count(self, result: str, plan: str = "", hours: int = 0) -> None:
        if self.metrics is not None:
            self.metrics.usage_reports.labels(result).inc()
            if result == "sent":
                self.metrics.usage_vm_hours.labels(plan).inc(hours)

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run :meth:`run` now and then every ``poll_seconds`` until ``stop`` is set."""

        def loop() -> None:
            while True:
                try:
                    self.run()
                except Exception as exc:  # Stripe or the database blinked: the watermark waits for the next run
                    detail = str(exc) if isinstance(exc, StripeUnavailable) else type(exc).__name__
                    log.error("usage report failed (%s); retrying in %.0f s", detail, self.poll_seconds)
                if stop.wait(self.poll_seconds):
                    return

        thread = threading.Thread(target=loop, name="usage-report", daemon=True)
        thread.start()
        return thread


def usage_job(
    settings: Settings, queue: JobQueue, customer_of: Callable[[str], str | None], metrics: Metrics | None = None
) -> UsageJob | None:
    """The report job when billing can reach Stripe (STRIPE_API_KEY set), else None."""
    if settings.stripe_api_key is None or settings.stripe_webhook_secret is None or not isinstance(queue, SqlQueue):
        return None
    client = stripe_client(
        StripeSettings(
            api_key=settings.stripe_api_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )
    )
    return UsageJob(
        queue, UsageReporter(client, settings.meter_event), customer_of, metrics, settings.usage_poll_seconds
    )
