"""The declaration door refuses over-quota requests with the quota pack's own policy name and message.

Signups and billing pass the same door (:func:`service.declare.declare`), so they refuse alike.
"""

from __future__ import annotations

import logging

import pytest

from tests.billing.conftest import FakeStripe, checkout, subscription
from tests.service.harness import signup_body
from tests.service_billing.conftest import BilledService, now, stripe_event


def test_over_quota_signup_is_refused_with_the_policy_and_nothing_is_created(billed: BilledService) -> None:
    response = billed.signup(signup_body("acme", servers=2))
    assert response.status_code == 422
    assert {
        "field": "servers",
        "policy": "tenant-server-quota",
        "message": "tenant acme: 2 servers exceed plan 'starter' limit of 1 (max_servers)",
    } in response.json()["detail"]
    assert billed.queue.list_tenants() == [] and billed.queue.list_jobs() == []


def test_request_within_the_plan_passes_the_door(billed: BilledService) -> None:
    response = billed.signup(signup_body("acme", plan="business", servers=3))
    assert response.status_code == 202
    assert billed.declared("acme")["servers"] == 3 and billed.jobs("acme") == [("signup", "queued")]


def test_signups_and_billing_refuse_the_same_declaration_naming_the_same_field(
    billed: BilledService, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    signup = billed.signup(signup_body("acme", plan="business", servers=5))
    assert signup.status_code == 422
    (problem,) = [p for p in signup.json()["detail"] if p["field"] == "servers"]
    assert problem["policy"] == "tenant-server-quota"

    assert billed.signup(signup_body("acme")).status_code == 202
    fake_stripe.subs["sub_1"] = subscription(created=now() - 10, items=(("price_business", 5),))
    with caplog.at_level(logging.ERROR, logger="billing.adapter.sink"):
        paid = billed.deliver(stripe_event("evt_checkout", "checkout.session.completed", checkout()))
    assert paid.status_code == 200 and paid.json()["actions"] == ["Provision"]
    assert f"servers: {problem['message']} [tenant-server-quota]" in caplog.text
    assert (billed.declared("acme")["plan"], billed.declared("acme")["servers"]) == ("starter", 1)
    assert billed.jobs("acme") == [("signup", "queued")]
