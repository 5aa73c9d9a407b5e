"""POST /v1/tenants/{slug}/checkout-session: the service creates the Stripe Checkout Session (stripe-mock).

Whatever identifies the tenant in Stripe's later events is set by the service, never by the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
import stripe

from billing.checkout import CheckoutSessions
from service.signing import sign
from tests.billing.conftest import API_KEY, FakeStripe, RecordingHttpClient, checkout, invoice, subscription
from tests.service.harness import HTTP_TIMEOUT, signup_body, wait_for
from tests.service_billing.conftest import CHECKOUT, BilledService, now, start_billed, stripe_event


@pytest.fixture
def shop(tmp_path: Path, stripe_mock: str, fake_stripe: FakeStripe) -> Iterator[BilledService]:
    """The billed service with STRIPE_API_KEY pointing at stripe-mock (so it can create checkout sessions)."""
    running, server = start_billed(tmp_path, fake_stripe, {"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": stripe_mock})
    yield running
    running.stop_workers()
    server.stop()


def _recorded(shop: BilledService, stripe_mock: str) -> RecordingHttpClient:
    """Make the service's sessions go through a recording HTTP client (still to stripe-mock)."""
    http = RecordingHttpClient()
    client = stripe.StripeClient(API_KEY, base_addresses={"api": stripe_mock}, http_client=http, max_network_retries=0)
    shop.billing.sessions = CheckoutSessions(client, CHECKOUT["success_url"], CHECKOUT["cancel_url"])
    return http


def _post(shop: BilledService, slug: str, body: dict[str, Any], auth: str = "operator") -> requests.Response:
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if auth == "operator":
        headers["Authorization"] = f"Bearer {shop.settings.operator_token.get_secret_value()}"
    elif auth == "signed":
        headers["X-Signature"] = sign(shop.settings.hmac_secret, raw)
    return requests.post(
        f"{shop.base_url}/v1/tenants/{slug}/checkout-session", data=raw, headers=headers, timeout=HTTP_TIMEOUT
    )


def _params(http: RecordingHttpClient) -> dict[str, str]:
    ((method, url, _, data),) = http.sent
    assert method == "post" and url.endswith("/v1/checkout/sessions")
    return dict(parse_qsl(data))


def test_checkout_session_carries_the_tenant_set_by_the_service(
    shop: BilledService, stripe_mock: str, fake_stripe: FakeStripe
) -> None:
    assert shop.signup(signup_body("acme")).status_code == 202
    plain = _post(shop, "acme", {"price": "price_business", "quantity": 3})
    assert plain.status_code == 201, plain.text
    assert plain.json()["url"].startswith("https://checkout.stripe.com/")
    http = _recorded(shop, stripe_mock)
    response = _post(shop, "acme", {"price": "price_business", "quantity": 3})
    assert response.status_code == 201, response.text
    params = _params(http)
    assert {
        k: params[k]
        for k in (
            "metadata[tenant]",
            "metadata[organization_id]",
            "subscription_data[metadata][tenant]",
            "client_reference_id",
            "customer_email",
            "line_items[0][price]",
            "line_items[0][quantity]",
            "mode",
            "success_url",
        )
    } == {
        "metadata[tenant]": "acme",
        "metadata[organization_id]": "org_acme",
        "subscription_data[metadata][tenant]": "acme",
        "client_reference_id": "acme",
        "customer_email": "ops@acme.example",
        "line_items[0][price]": "price_business",
        "line_items[0][quantity]": "3",
        "mode": "subscription",
        "success_url": CHECKOUT["success_url"],
    }
    session_id = response.json()["session_id"]
    assert shop.billing.store.session_tenant(session_id) == "acme"
    # Completing that session is what binds acme to the paying customer.
    fake_stripe.subs["sub_9"] = subscription(
        "sub_9", created=now() - 5, items=(("price_business", 3),), customer="cus_9"
    )
    paid = shop.deliver(
        stripe_event(
            "evt_paid", "checkout.session.completed", checkout(sub="sub_9", customer="cus_9", session=session_id)
        )
    )
    assert paid.json()["actions"] == ["Provision"], paid.text
    assert shop.billing.store.state("acme").customer == "cus_9"
    # The bound tenant's next checkout is paid as the same customer.
    http.sent.clear()
    assert _post(shop, "acme", {"price": "price_business", "quantity": 2}).status_code == 201
    params = _params(http)
    assert params["customer"] == "cus_9" and "customer_email" not in params


@pytest.mark.parametrize(
    "extra",
    [
        {"metadata": {"tenant": "bravo"}},
        {"client_reference_id": "bravo"},
        {"tenant": "bravo"},
        {"customer": "cus_evil"},
    ],
)
def test_the_caller_cannot_choose_what_identifies_the_tenant(
    shop: BilledService, stripe_mock: str, extra: dict[str, Any]
) -> None:
    shop.signup(signup_body("acme"))
    http = _recorded(shop, stripe_mock)
    response = _post(shop, "acme", {"price": "price_business", "quantity": 3, **extra})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["detail"]] == [next(iter(extra))]
    assert http.sent == []


def test_the_signup_sender_may_open_a_checkout_for_its_held_signup(
    tmp_path: Path, stripe_mock: str, fake_stripe: FakeStripe
) -> None:
    gated, server = start_billed(
        tmp_path,
        fake_stripe,
        {"STRIPE_API_KEY": API_KEY, "STRIPE_API_BASE": stripe_mock, "SERVICE_REQUIRE_PAYMENT": "true"},
    )
    try:
        assert gated.signup(signup_body("acme")).json()["phase"] == "awaiting-payment"
        assert _post(gated, "acme", {"price": "price_starter"}, auth="signed").status_code == 201
        assert _post(gated, "acme", {"price": "price_starter"}, auth="none").status_code == 401
        assert _post(gated, "acme", {"price": "price_starter"}, auth="operator").status_code == 201
        forged = requests.post(
            f"{gated.base_url}/v1/tenants/acme/checkout-session",
            data=b'{"price": "price_starter"}',
            headers={"X-Signature": sign(gated.settings.hmac_secret, b'{"price": "other"}')},
            timeout=HTTP_TIMEOUT,
        )
        assert forged.status_code == 401
    finally:
        server.stop()


@pytest.mark.parametrize(
    "slug, body, status, field",
    [
        ("ghost", {"price": "price_starter"}, 404, None),
        ("acme", {"price": "price_gold"}, 422, "price"),
        ("acme", {"price": "price_starter", "quantity": 2}, 422, "quantity"),
        ("acme", {"price": "price_business", "quantity": 0}, 422, "quantity"),
    ],
)
def test_refused_checkouts_create_no_session(
    shop: BilledService, stripe_mock: str, slug: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    shop.signup(signup_body("acme"))
    http = _recorded(shop, stripe_mock)
    response = _post(shop, slug, body)
    assert response.status_code == status, response.text
    if field is not None:
        assert field in [d["field"] for d in response.json()["detail"]]
    assert http.sent == []


def test_a_decommissioned_tenant_gets_no_checkout(shop: BilledService, stripe_mock: str) -> None:
    shop.start_workers(1)
    shop.wait_job(shop.signup(signup_body("acme")).json()["job_id"])
    shop.wait_job(shop.op("POST", "/v1/tenants/acme/decommission").json()["job_id"])
    http = _recorded(shop, stripe_mock)
    response = _post(shop, "acme", {"price": "price_starter"})
    assert response.status_code == 409 and "decommissioned" in response.json()["detail"] and http.sent == []


def test_a_reused_slug_is_billed_anew_never_as_the_old_customer(
    shop: BilledService, stripe_mock: str, fake_stripe: FakeStripe
) -> None:
    shop.start_workers(1)
    shop.wait_job(shop.signup(signup_body("acme")).json()["job_id"])
    shop.billing.store.record_session("cs_acme", "acme", "org_acme")
    fake_stripe.subs["sub_1"] = subscription(created=now() - 100)
    assert shop.deliver(stripe_event("evt_1", "checkout.session.completed", checkout())).json()["actions"] == [
        "Provision"
    ]
    fake_stripe.subs["sub_1"] = subscription(status="canceled", created=now() - 100)
    ended = shop.deliver(stripe_event("evt_2", "customer.subscription.deleted", fake_stripe.subs["sub_1"]))
    assert ended.json()["actions"] == ["Decommission"]
    wait_for(lambda: shop.queue.get_tenant("acme").phase == "decommissioned", 15, "acme decommissioned")
    # Another organization signs up under the freed slug and pays as its own customer.
    again = shop.signup(
        signup_body("acme", event_id="evt-acme-new", organization_id="org_new", contact_email="boss@new.example")
    )
    assert again.status_code == 202, again.text
    http = _recorded(shop, stripe_mock)
    response = _post(shop, "acme", {"price": "price_starter"})
    assert response.status_code == 201, response.text
    params = _params(http)
    assert "customer" not in params and params["customer_email"] == "boss@new.example"
    assert params["metadata[organization_id]"] == "org_new"
    fake_stripe.subs["sub_n"] = subscription("sub_n", created=now() - 5, customer="cus_new")
    paid = shop.deliver(
        stripe_event(
            "evt_3",
            "checkout.session.completed",
            checkout(sub="sub_n", customer="cus_new", session=response.json()["session_id"]),
        )
    )
    assert paid.json()["actions"] == ["Provision"], paid.text
    state = shop.billing.store.state("acme")
    assert (state.customer, state.organization, state.subscription_id) == ("cus_new", "org_new", "sub_n")
    old = shop.deliver(stripe_event("evt_4", "invoice.payment_failed", invoice()))
    assert old.json()["actions"] == [] and old.json()["note"].startswith(
        "refused: tenant acme is bound to customer cus_new"
    )
