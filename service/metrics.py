"""Prometheus metrics: job counts (read from the queue at scrape time), durations, engine errors."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from provisioning.recovery import RecoveryReport
from service.queue import JobQueue
from service.queue import usage as usage_ledger

ERROR_KINDS = ("dokploy_setup", "quota", "policy", "transient", "cancelled", "engine")
WEBHOOK_OUTCOMES = ("applied", "duplicate", "ignored", "rejected", "failed")
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


class _QueueCollector(Collector):
    """Jobs per state, counted in the queue itself so every API replica reports the same numbers."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("service_jobs", "Jobs in the queue by state", labels=["state"])
        try:
            counts = self._queue.counts()
        except Exception:  # an unreachable queue shows in /readyz; metrics stay scrapeable
            counts = {}
        for state, value in sorted(counts.items()):
            family.add_metric([state], value)
        yield family


class _AgeCollector(Collector):
    """Queue wait and run lengths, read from the queue at scrape time (stuck provisioning shows here)."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    def collect(self) -> Iterable[Metric]:
        oldest = GaugeMetricFamily(
            "service_queue_oldest_job_age_seconds", "How long the oldest job that is due has waited for a worker"
        )
        running = GaugeMetricFamily(
            "service_running_job_max_age_seconds",
            "Seconds since the longest-running job of each operation first started",
            labels=["operation"],
        )
        try:
            ages = self._queue.ages()
        except Exception:  # an unreachable queue shows in /readyz
            ages = None
        if ages is not None:
            oldest.add_metric([], ages["oldest_runnable"])
            for operation, seconds in sorted(ages["running"].items()):
                running.add_metric([operation], seconds)
        yield oldest
        yield running


class _BillingCollector(Collector):
    """Suspensions waiting out their grace period, read from the billing store at scrape time."""

    def __init__(self, pending: Callable[[], dict[str, int]]) -> None:
        self._pending = pending

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "service_billing_suspensions_pending", "Tenants whose suspension waits out its grace period"
        )
        try:
            family.add_metric([], len(self._pending()))
        except Exception:  # an unreadable billing store: no sample rather than a wrong one
            pass
        yield family


class _UsageCollector(Collector):
    """When VM-hours reporting last caught up, read from the database (survives restarts, same on every replica)."""

    def __init__(self, queue: JobQueue) -> None:
        self._queue = queue

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "service_usage_last_success_timestamp_seconds",
            "Unix time when every closed hour's VM-hours had been reported to Stripe",
        )
        try:
            with self._queue.transaction() as tx:  # type: ignore[attr-defined]
                mark = usage_ledger.watermark(tx)
        except Exception:
            mark = None
        if mark is not None and mark["last_success"] is not None:
            family.add_metric([], float(mark["last_success"]))
        yield family


class Metrics:
    """The service's metrics in their own registry (no global state shared between app instances)."""

    def watch_billing(self, pending: Callable[[], dict[str, int]]) -> None:
        """Expose the billing store's pending suspensions (called once billing is configured)."""
        self.registry.register(_BillingCollector(pending))

    def __init__(self, queue: JobQueue) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_QueueCollector(queue))
        self.registry.register(_UsageCollector(queue))
        self.registry.register(_AgeCollector(queue))
        self.signup_to_ready = Histogram(
            "service_signup_to_ready_seconds",
            "Time from signup to a ready tenant, per provisioning phase (phase=total for the whole wait)",
            ["phase"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.engine_errors = Counter(
            "service_automation_api_errors",
            "Failed engine runs, by operation and whether they will be retried",
            ["operation", "retryable"],
            registry=self.registry,
        )
        self.job_runs = Counter(
            "service_job_runs", "Engine runs by operation and result", ["operation", "result"], registry=self.registry
        )
        self.usage_reports = Counter(
            "service_usage_reports",
            "VM-hours reports by result (sent, unbilled: the tenant has no Stripe customer, failed)",
            ["result"],
            registry=self.registry,
        )
        self.job_failures = Counter(
            "service_job_failures",
            "Failed engine runs by operation and error kind (dokploy_setup, quota, policy, transient, cancelled, "
            "engine), retried or not",
            ["operation", "error_kind"],
            registry=self.registry,
        )
        for operation in ("up", "destroy"):  # present from the start, so increase() sees the first failure
            for kind in ERROR_KINDS:
                self.job_failures.labels(operation, kind)
        self.job_retries = Counter(
            "service_job_retries", "Runs that will be tried again, by operation", ["operation"], registry=self.registry
        )
        self.recovery_actions = Counter(
            "service_recovery_actions",
            "What recovery from a killed run did (lock_cleared, pending_dropped, orphan_vm_deleted, "
            "waited_for_task, torn_file_removed)",
            ["action"],
            registry=self.registry,
        )
        self.stripe_webhooks = Counter(
            "service_stripe_webhooks",
            "Stripe webhook deliveries by outcome (applied, duplicate, ignored, rejected, failed)",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in WEBHOOK_OUTCOMES:
            self.stripe_webhooks.labels(outcome)
        self.usage_vm_hours = Counter(
            "service_usage_vm_hours", "VM-hours reported to Stripe, by plan", ["plan"], registry=self.registry
        )


def count_recovery(metrics: Metrics, report: RecoveryReport) -> None:
    """Count what one recovery did (``CrashSafeRunner.on_recovery``)."""
    for action, times in (
        ("lock_cleared", int(report.lock_cleared)),
        ("pending_dropped", len(report.pending_dropped)),
        ("orphan_vm_deleted", len(report.orphan_vms_deleted)),
        ("waited_for_task", len(report.waited_for_tasks)),
        ("torn_file_removed", len(report.torn_files_removed)),
    ):
        if times:
            metrics.recovery_actions.labels(action).inc(times)
