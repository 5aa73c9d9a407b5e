"""Billing identity: a tenant is bound to one Stripe customer, once; nobody else's events reach it (fake engine)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.billing.conftest import FakeStripe, checkout, invoice, subscription
from tests.service.harness import signup_body, wait_for
from tests.service_billing.conftest import BilledService, now, stripe_event

BUSINESS_X3 = (("price_business", 3),)


@pytest.fixture
def acme(billed: BilledService, fake_stripe: FakeStripe) -> BilledService:
    """acme signed up and paid business x3 as customer cus_1 through the session the service created."""
    billed.start_workers(1)
    assert billed.wait_job(billed.signup(signup_body("acme")).json()["job_id"])["state"] == "succeeded"
    fake_stripe.subs["sub_1"] = subscription(created=now() - 100, items=BUSINESS_X3)
    assert billed.deliver(stripe_event("evt_co", "checkout.session.completed", checkout())).json()["actions"] == [
        "Provision"
    ]
    wait_for(lambda: all(s == "succeeded" for _, s in billed.jobs("acme")), 15, "acme's jobs")
    return billed


def _evil_sub(status: str = "active") -> dict[str, Any]:
    """A newer subscription of another customer whose metadata names acme."""
    return subscription(
        "sub_evil", status=status, created=now() - 5, items=(("price_starter", 1),), customer="cus_evil"
    )


def test_events_from_another_customer_naming_a_bound_tenant_change_nothing(
    acme: BilledService, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    jobs, state = acme.jobs("acme"), acme.billing.store.state("acme")
    fake_stripe.subs["sub_evil"] = _evil_sub()
    attacks = [
        stripe_event(
            "evt_a1",
            "checkout.session.completed",
            checkout(sub="sub_evil", customer="cus_evil", session="cs_payment_link"),
        ),
        stripe_event("evt_a2", "customer.subscription.created", _evil_sub()),
        stripe_event("evt_a3", "invoice.payment_failed", {**invoice("sub_evil"), "customer": "cus_evil"}),
    ]
    for evt in attacks:
        response = acme.deliver(evt)
        assert response.status_code == 200 and response.json()["actions"] == [], response.text
        assert response.json()["note"].startswith("refused: tenant acme is bound to customer cus_1"), response.text
    fake_stripe.subs["sub_evil"] = _evil_sub("canceled")
    cancel = acme.deliver(stripe_event("evt_a4", "customer.subscription.deleted", _evil_sub("canceled")))
    assert cancel.json()["actions"] == [] and cancel.json()["note"].startswith("refused")
    assert acme.billing.store.state("acme") == state and acme.billing.store.pending() == []
    assert acme.jobs("acme") == jobs and acme.declared("acme")["plan"] == "business"
    assert acme.declared("acme")["servers"] == 3 and "state" not in acme.declared("acme")
    assert acme.billing.tick(now() + 10**6) == 0  # no suspension was armed
    assert caplog.text.count("refused: tenant acme is bound to customer cus_1") == 4


def test_the_bound_customer_still_controls_its_tenant(acme: BilledService, fake_stripe: FakeStripe) -> None:
    fake_stripe.subs["sub_1"] = subscription(created=now() - 100, items=(("price_business", 2),))
    response = acme.deliver(stripe_event("evt_up", "customer.subscription.updated", fake_stripe.subs["sub_1"]))
    assert response.json()["actions"] == ["Resize"] and acme.declared("acme")["servers"] == 2


def test_a_customer_bound_to_one_tenant_cannot_act_for_another(acme: BilledService, fake_stripe: FakeStripe) -> None:
    acme.signup(signup_body("bravo"))
    acme.billing.store.record_session("cs_bravo", "bravo")
    fake_stripe.subs["sub_b"] = subscription("sub_b", created=now() - 5, tenant="bravo", customer="cus_1")
    response = acme.deliver(
        stripe_event("evt_b", "checkout.session.completed", checkout(sub="sub_b", tenant="bravo", customer="cus_1"))
    )
    assert response.json()["actions"] == []
    assert response.json()["note"] == "refused: customer cus_1 is bound to tenant acme, the event names tenant bravo"
    assert acme.billing.store.state("bravo").customer is None


def test_the_first_completed_session_binds_and_a_second_customer_is_refused(
    billed: BilledService, fake_stripe: FakeStripe
) -> None:
    billed.signup(signup_body("acme"))
    fake_stripe.subs["sub_1"] = subscription(created=now() - 100)
    fake_stripe.subs["sub_2"] = subscription("sub_2", created=now() - 5, items=BUSINESS_X3, customer="cus_2")
    first = billed.deliver(stripe_event("evt_1", "checkout.session.completed", checkout()))
    second = billed.deliver(
        stripe_event("evt_2", "checkout.session.completed", checkout(sub="sub_2", customer="cus_2"))
    )
    assert first.json()["actions"] == ["Provision"] and second.json()["actions"] == []
    assert billed.billing.store.state("acme").customer == "cus_1"
    assert billed.billing.store.state("acme").subscription_id == "sub_1"


def test_a_redelivered_older_checkout_does_not_overwrite_a_newer_one(
    billed: BilledService, fake_stripe: FakeStripe
) -> None:
    """Two sessions the service created for acme; the older one's event arrives last (Stripe retried it)."""
    billed.signup(signup_body("acme"))
    billed.billing.store.record_session("cs_old", "acme")
    billed.billing.store.record_session("cs_new", "acme")
    fake_stripe.subs["sub_old"] = subscription("sub_old", created=now() - 600)
    fake_stripe.subs["sub_new"] = subscription("sub_new", created=now() - 60, items=BUSINESS_X3)
    newer = stripe_event("evt_new", "checkout.session.completed", checkout(sub="sub_new", session="cs_new"), now() - 50)
    older = stripe_event(
        "evt_old", "checkout.session.completed", checkout(sub="sub_old", session="cs_old"), now() - 590
    )
    assert billed.deliver(newer).json()["actions"] == ["Provision"]
    late = billed.deliver(older)
    assert late.status_code == 200 and late.json()["actions"] == [], late.text
    state = billed.billing.store.state("acme")
    assert (state.subscription_id, state.plan, state.servers) == ("sub_new", "business", 3)
    assert billed.declared("acme")["plan"] == "business" and billed.declared("acme")["servers"] == 3


def test_subscription_events_before_the_binding_checkout_wait_for_it(
    billed: BilledService, fake_stripe: FakeStripe
) -> None:
    """Stripe often sends customer.subscription.created before checkout.session.completed."""
    billed.signup(signup_body("acme"))
    fake_stripe.subs["sub_1"] = subscription(created=now() - 100, items=BUSINESS_X3)
    early = billed.deliver(stripe_event("evt_sub", "customer.subscription.created", fake_stripe.subs["sub_1"]))
    assert early.json()["actions"] == [] and early.json()["note"].startswith(
        "ignored: tenant acme has no Stripe customer"
    )
    paid = billed.deliver(stripe_event("evt_co", "checkout.session.completed", checkout()))
    assert paid.json()["actions"] == ["Provision"] and billed.declared("acme")["servers"] == 3
