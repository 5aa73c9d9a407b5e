"""Stripe events through POST /v1/stripe/webhook become tenant declarations and jobs (fake engine).

The tenant signs up first (the signup carries organization, owner and region); billing then sets
plan, server count and state, and queues the apply or the decommission.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from billing.stripe_api import StripeUnavailable
from tests.billing.conftest import FakeStripe, checkout, invoice, subscription
from tests.service.harness import signup_body, wait_for
from tests.service_billing.conftest import GRACE, BilledService, now, stripe_event


def _sub(
    status: str = "active", items: tuple[tuple[str, int], ...] = (("price_starter", 1),), **kw: Any
) -> dict[str, Any]:
    return subscription(status=status, created=now() - 10, items=items, **kw)


@pytest.fixture
def acme(billed: BilledService, fake_stripe: FakeStripe) -> BilledService:
    """acme signed up on starter, its signup applied, then a paid checkout for business x3 delivered."""
    billed.start_workers(1)
    job = billed.signup(signup_body("acme")).json()["job_id"]
    assert billed.wait_job(job)["state"] == "succeeded"
    fake_stripe.subs["sub_1"] = _sub(items=(("price_business", 3),))
    response = billed.deliver(stripe_event("evt_checkout", "checkout.session.completed", checkout()))
    assert response.status_code == 200 and response.json()["actions"] == ["Provision"], response.text
    return billed


def _settled(billed: BilledService, slug: str = "acme") -> list[tuple[str, str]]:
    return wait_for(
        lambda: (lambda j: j if all(s in ("succeeded", "failed") for _, s in j) else None)(billed.jobs(slug)),
        15,
        "jobs to settle",
    )


def test_paid_checkout_declares_the_plan_and_queues_the_apply(acme: BilledService) -> None:
    assert acme.declared("acme")["plan"] == "business" and acme.declared("acme")["servers"] == 3
    assert _settled(acme) == [("signup", "succeeded"), ("reapply", "succeeded")]


def test_unpaid_checkout_changes_nothing(billed: BilledService, fake_stripe: FakeStripe) -> None:
    billed.signup(signup_body("acme"))
    fake_stripe.subs["sub_1"] = _sub(status="incomplete", items=(("price_business", 3),))
    response = billed.deliver(stripe_event("evt_c", "checkout.session.completed", checkout(paid=False)))
    assert response.status_code == 200 and response.json()["actions"] == []
    assert billed.declared("acme")["plan"] == "starter" and billed.jobs("acme") == [("signup", "queued")]


def test_upgrade_resizes(acme: BilledService, fake_stripe: FakeStripe) -> None:
    _settled(acme)
    fake_stripe.subs["sub_1"] = _sub(items=(("price_business", 2),))
    response = acme.deliver(stripe_event("evt_up", "customer.subscription.updated", fake_stripe.subs["sub_1"]))
    assert response.json()["actions"] == ["Resize"]
    assert acme.declared("acme")["servers"] == 2
    assert _settled(acme)[-1] == ("reapply", "succeeded")


def test_failed_payment_suspends_after_the_grace_period_and_recovery_resumes(
    acme: BilledService, fake_stripe: FakeStripe
) -> None:
    _settled(acme)
    fake_stripe.subs["sub_1"] = _sub(status="past_due", items=(("price_business", 3),))
    assert acme.deliver(stripe_event("evt_fail", "invoice.payment_failed", invoice())).json()["actions"] == ["Suspend"]
    assert metric(acme, "service_billing_suspensions_pending") == 1
    assert acme.billing.tick(now() + GRACE - 60) == 0 and "state" not in acme.declared("acme")
    assert acme.billing.tick(now() + GRACE + 1) == 1
    assert metric(acme, "service_billing_suspensions_pending") == 0
    assert acme.declared("acme")["state"] == "suspended" and _settled(acme)[-1] == ("reapply", "succeeded")
    jobs_before = len(acme.jobs("acme"))
    assert acme.billing.tick(now() + 2 * GRACE) == 0 and len(acme.jobs("acme")) == jobs_before

    fake_stripe.subs["sub_1"] = _sub(items=(("price_business", 3),))
    assert acme.deliver(stripe_event("evt_paid", "invoice.payment_succeeded", invoice())).json()["actions"] == [
        "Resume"
    ]
    assert "state" not in acme.declared("acme") and _settled(acme)[-1] == ("reapply", "succeeded")
    assert len(acme.jobs("acme")) == jobs_before + 1


def test_recovery_within_the_grace_period_cancels_the_suspension(acme: BilledService, fake_stripe: FakeStripe) -> None:
    _settled(acme)
    jobs_before = len(acme.jobs("acme"))
    fake_stripe.subs["sub_1"] = _sub(status="past_due", items=(("price_business", 3),))
    acme.deliver(stripe_event("evt_fail", "invoice.payment_failed", invoice()))
    fake_stripe.subs["sub_1"] = _sub(items=(("price_business", 3),))
    acme.deliver(stripe_event("evt_paid", "invoice.payment_succeeded", invoice()))
    assert acme.billing.tick(now() + GRACE + 1) == 0
    assert "state" not in acme.declared("acme") and len(acme.jobs("acme")) == jobs_before


def test_cancellation_decommissions(acme: BilledService, fake_stripe: FakeStripe) -> None:
    _settled(acme)
    fake_stripe.subs["sub_1"] = _sub(status="canceled", items=(("price_business", 3),))
    response = acme.deliver(stripe_event("evt_del", "customer.subscription.deleted", fake_stripe.subs["sub_1"]))
    assert response.json()["actions"] == ["Decommission"]
    assert _settled(acme)[-1] == ("decommission", "succeeded")
    assert acme.queue.get_tenant("acme").phase == "decommissioned"


def test_replayed_event_has_no_second_effect(acme: BilledService, fake_stripe: FakeStripe) -> None:
    _settled(acme)
    fake_stripe.subs["sub_1"] = _sub(items=(("price_business", 2),))
    evt = stripe_event("evt_up", "customer.subscription.updated", fake_stripe.subs["sub_1"])
    assert acme.deliver(evt).json()["actions"] == ["Resize"]
    jobs = _settled(acme)
    replay = acme.deliver(evt)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert metric(acme, "service_stripe_webhooks_total", outcome="duplicate") == 1
    assert acme.jobs("acme") == jobs


def test_reordered_older_event_has_no_effect(billed: BilledService) -> None:
    """Without a Stripe lookup, an older snapshot delivered late must not undo a newer one."""
    billed.billing.handler.source = None
    billed.signup(signup_body("acme"))
    assert billed.deliver(stripe_event("evt_co", "checkout.session.completed", checkout())).json()["actions"] == []
    newer = subscription(created=now() - 100, items=(("price_business", 3),))
    older = subscription(created=now() - 100, items=(("price_business", 2),))
    billed.deliver(stripe_event("evt_new", "customer.subscription.updated", newer, created=now()))
    assert billed.declared("acme")["servers"] == 3
    late = billed.deliver(stripe_event("evt_old", "customer.subscription.updated", older, created=now() - 50))
    assert late.status_code == 200 and late.json()["actions"] == []
    assert billed.declared("acme")["servers"] == 3


@pytest.mark.parametrize("secret", ["whsec_forged_0000000000000000", None])
def test_forged_or_unsigned_event_is_refused_and_changes_nothing(billed: BilledService, secret: str | None) -> None:
    billed.signup(signup_body("acme"))
    evt = stripe_event("evt_forged", "customer.subscription.updated", subscription(items=(("price_business", 3),)))
    if secret is None:
        response = requests.post(f"{billed.base_url}/v1/stripe/webhook", data=json.dumps(evt), timeout=10)
    else:
        response = billed.deliver(evt, secret=secret)
    assert response.status_code == 400 and "Webhook Error" in response.json()["detail"]
    assert metric(billed, "service_stripe_webhooks_total", outcome="rejected") == 1
    assert metric(billed, "service_stripe_webhooks_total", outcome="applied") == 0
    assert billed.declared("acme")["plan"] == "starter" and billed.jobs("acme") == [("signup", "queued")]
    assert not billed.billing.store.seen("evt_forged")


def test_stripe_down_answers_503_and_stripe_redelivers(billed: BilledService) -> None:
    class Down:
        def current(self, subscription_id: str) -> Any:
            raise StripeUnavailable(f"retrieving subscription {subscription_id} failed")

    billed.billing.handler.source = Down()
    billed.signup(signup_body("acme"))
    response = billed.deliver(stripe_event("evt_x", "customer.subscription.updated", subscription()))
    assert response.status_code == 503 and not billed.billing.store.seen("evt_x")
    assert metric(billed, "service_stripe_webhooks_total", outcome="failed") == 1


def test_provision_for_a_tenant_that_never_signed_up_is_dropped(billed: BilledService, fake_stripe: FakeStripe) -> None:
    fake_stripe.subs["sub_1"] = _sub(tenant="ghost")
    response = billed.deliver(stripe_event("evt_g", "checkout.session.completed", checkout(tenant="ghost")))
    assert response.status_code == 200 and billed.queue.list_tenants() == []
    assert billed.billing.store.pending() == []


def metric(service: BilledService, name: str, **labels: str) -> float:
    """One sample of the service's ``/metrics``, as Prometheus would read it."""
    text = requests.get(f"{service.base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels} in /metrics")
