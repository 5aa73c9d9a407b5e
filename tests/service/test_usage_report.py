"""VM-hours: recorded running intervals → one report per tenant, plan and hour, across failures and restarts."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from billing.adapter.usage_report import UsageJob
from billing.stripe_api import StripeUnavailable
from billing.usage import HOUR, UsageReport
from service.queue import JobQueue
from service.queue import usage as ledger
from tests.service.harness import RunningService, signup_body

H = 480_000 * HOUR  # a whole hour in 2024


class Recorder:
    """A reporter that records what it sent and can be made to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int, int, str]] = []
        self.fail_at: int | None = None

    def report(self, report: UsageReport) -> Any:
        if self.fail_at == report.window_start:
            raise StripeUnavailable("reporting usage failed: APIConnectionError (HTTP None)")
        self.sent.append((report.tenant, report.plan, report.window_start, report.vm_hours, report.customer))


def _change(queue: JobQueue, job: str, slug: str, at: float, plan: str, vms: int) -> None:
    with queue.transaction(write=True) as tx:  # type: ignore[attr-defined]
        ledger.record_change(tx, job, slug, at, plan, vms)


CUSTOMERS = {"acme": "cus_acme", "bravo": "cus_bravo"}


def test_hours_across_suspend_plan_change_failure_and_restart(queue: JobQueue) -> None:
    _change(queue, "j1", "acme", H + 600, "starter", 1)  # ready during hour 0
    _change(queue, "j2", "acme", H + HOUR + 100, "starter", 0)  # suspended early in hour 1
    _change(queue, "j3", "acme", H + 3 * HOUR + 30, "business", 3)  # resumed on business x3 in hour 3
    _change(queue, "j4", "bravo", H + 1800, "starter", 1)
    _change(queue, "j5", "ghost", H + 10, "starter", 1)  # no Stripe customer: recorded, not billed
    stripe = Recorder()
    first = UsageJob(queue, stripe, CUSTOMERS.get)
    assert first.run(now=H + 2 * HOUR + 5) == 4  # hours 0 and 1 are closed
    stripe.fail_at = H + 3 * HOUR
    second = UsageJob(queue, stripe, CUSTOMERS.get)  # a restarted service
    with pytest.raises(StripeUnavailable):
        second.run(now=H + 5 * HOUR + 5)
    stripe.fail_at = None
    assert UsageJob(queue, stripe, CUSTOMERS.get).run(now=H + 5 * HOUR + 5) > 0
    assert UsageJob(queue, stripe, CUSTOMERS.get).run(now=H + 5 * HOUR + 5) == 0  # nothing left: no double count
    expected = [
        ("acme", "starter", H, 1),
        ("bravo", "starter", H, 1),
        ("acme", "starter", H + HOUR, 1),
        ("bravo", "starter", H + HOUR, 1),
        ("bravo", "starter", H + 2 * HOUR, 1),
        ("acme", "business", H + 3 * HOUR, 3),
        ("bravo", "starter", H + 3 * HOUR, 1),
        ("acme", "business", H + 4 * HOUR, 3),
        ("bravo", "starter", H + 4 * HOUR, 1),
    ]
    assert sorted(s[:4] for s in stripe.sent) == sorted(expected)  # each once: no gap, no double count
    assert all(s[4] == CUSTOMERS[s[0]] for s in stripe.sent)
    with queue.transaction() as tx:  # type: ignore[attr-defined]
        rows = ledger.reports(tx)
        mark = ledger.watermark(tx)
    assert sorted(r[:4] for r in rows if r[4]) == sorted(expected)
    assert sorted(r[2] for r in rows if r[0] == "ghost") == [H + i * HOUR for i in range(5)]
    assert all(r[4] is None for r in rows if r[0] == "ghost")
    assert mark is not None and mark["next_window"] == H + 5 * HOUR and mark["last_success"] == H + 5 * HOUR + 5


def test_a_crash_after_sending_resends_the_same_report(queue: JobQueue) -> None:
    """Sent but not recorded (killed in between): the next run sends the identical report, which Stripe bills once."""
    _change(queue, "j1", "acme", H, "starter", 1)
    stripe = Recorder()

    class Killed(Recorder):
        def report(self, report: UsageReport) -> Any:
            stripe.report(report)
            raise SystemExit("killed after sending")

    with pytest.raises(SystemExit):
        UsageJob(queue, Killed(), CUSTOMERS.get).run(now=H + HOUR + 1)
    UsageJob(queue, stripe, CUSTOMERS.get).run(now=H + HOUR + 1)
    assert stripe.sent == [("acme", "starter", H, 1, "cus_acme")] * 2  # same (tenant, plan, hour) → same key


def test_workers_record_running_intervals(service: RunningService) -> None:
    """Ready, suspended, resumed on a bigger plan, decommissioned: each successful run records what now runs."""
    service.start_workers(1)
    assert service.wait_job(service.signup(signup_body("acme")).json()["job_id"])["state"] == "succeeded"
    base = yaml.safe_load(service.queue.get_tenant("acme").declaration)
    for declared in ({**base, "state": "suspended"}, {**base, "plan": "business", "servers": 3}):
        service.queue.update_declaration("acme", declared["plan"], yaml.safe_dump(declared))
        assert service.wait_job(service.op("POST", "/v1/tenants/acme/reapply").json()["job_id"])["state"] == "succeeded"
    service.wait_job(service.op("POST", "/v1/tenants/acme/decommission").json()["job_id"])
    with service.queue.transaction() as tx:  # type: ignore[attr-defined]
        changes = ledger.changes_between(tx, 0, float("inf"))
    assert [(slug, plan, vms) for slug, _, plan, vms in changes] == [
        ("acme", "starter", 1),
        ("acme", "starter", 0),
        ("acme", "business", 3),
        ("acme", "business", 0),
    ]
    times = [at for _, at, _, _ in changes]
    assert times == sorted(times)


def test_no_usage_yet_is_a_success_and_later_usage_is_reported_from_its_first_hour(queue: JobQueue) -> None:
    stripe = Recorder()
    assert UsageJob(queue, stripe, CUSTOMERS.get).run(now=H + 10) == 0
    with queue.transaction() as tx:  # type: ignore[attr-defined]
        assert ledger.watermark(tx) == {"next_window": H, "last_success": H + 10}
    _change(queue, "j1", "acme", H + 20, "starter", 1)
    assert UsageJob(queue, stripe, CUSTOMERS.get).run(now=H + HOUR + 10) == 1
    assert stripe.sent == [("acme", "starter", H, 1, "cus_acme")]
