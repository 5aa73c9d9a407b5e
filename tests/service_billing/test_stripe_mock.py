"""The webhook with the real Stripe client: each event's subscription is fetched from stripe-mock."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.billing.conftest import API_KEY, WEBHOOK_SECRET, checkout
from tests.service.harness import signup_body
from tests.service_billing.conftest import start_billed, stripe_event


def test_paid_checkout_provisions_from_the_subscription_stripe_returns(
    tmp_path: Path, stripe_mock: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    billed, server = start_billed(tmp_path, None, {"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": stripe_mock})
    try:
        assert billed.signup(signup_body("acme")).status_code == 202
        response = billed.deliver(stripe_event("evt_co", "checkout.session.completed", checkout(sub="sub_123")))
        assert response.status_code == 200 and response.json()["actions"] == ["Provision"], response.text
        state = billed.billing.store.state("acme")
        assert (state.plan, state.subscription_id) == ("starter", "sub_123")
        assert billed.declared("acme")["plan"] == "starter"
        assert billed.billing.store.pending() == []
    finally:
        server.stop()
    assert API_KEY not in caplog.text and WEBHOOK_SECRET not in caplog.text
