"""Billing fixtures: stripe-mock on a free loopback port, signed webhook deliveries, a fake Stripe."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import stripe
from pydantic import SecretStr

from billing.adapter.store import BillingStore
from billing.config import BillingConfig, PriceRule, StripeSettings
from billing.model import Subscription, parse_subscription

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
API_KEY = "sk_test_123"
# stripe-mock's bundled fixture subscription uses this price; tests map it to a plan.
MOCK_PRICE = "price_1PgafmB7WZ01zgkW6dKueIc5"
CONFIG = BillingConfig(
    prices={
        "price_starter": PriceRule("starter"),
        "price_business": PriceRule("business"),
        "business_base": PriceRule("business", servers=3),
        MOCK_PRICE: PriceRule("starter"),
    },
    grace_seconds=3600,
)


@pytest.fixture
def stripe_settings(stripe_mock: str) -> StripeSettings:
    """Settings pointing the stripe library at stripe-mock."""
    return StripeSettings(
        api_key=SecretStr(API_KEY),
        webhook_secret=SecretStr(WEBHOOK_SECRET),
        api_base=stripe_mock,
        timeout_seconds=5,
        max_retries=1,
    )


@pytest.fixture
def store(tmp_path: Path) -> BillingStore:
    """A billing store in a temporary SQLite file that created acme's checkout session ``cs_acme``."""
    created = BillingStore(tmp_path / "billing.sqlite3", CONFIG)
    created.record_session(session_id("acme"), "acme")
    return created


def sign(event: dict[str, Any], secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, str]:
    """(body, Stripe-Signature header) exactly as Stripe would send them, via the stripe library's own scheme."""
    body = json.dumps(event)
    return body.encode(), stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)


def subscription(
    sub_id: str = "sub_1",
    status: str = "active",
    created: int = 1000,
    tenant: str = "acme",
    items: tuple[tuple[str, int], ...] = (("price_starter", 1),),
    customer: str = "cus_1",
) -> dict[str, Any]:
    """A Stripe subscription object (the fields we read)."""
    return {
        "id": sub_id,
        "object": "subscription",
        "status": status,
        "created": created,
        "customer": customer,
        "metadata": {"tenant": tenant},
        "items": {
            "object": "list",
            "data": [
                {"id": f"si_{i}", "quantity": q, "price": {"id": p, "lookup_key": None}}
                for i, (p, q) in enumerate(items)
            ],
        },
    }


def event(event_id: str, etype: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    """A Stripe event envelope."""
    return {
        "id": event_id,
        "object": "event",
        "type": etype,
        "created": created,
        "api_version": "2025-09-30",
        "data": {"object": obj},
        "livemode": False,
    }


def session_id(tenant: str) -> str:
    """The id of the checkout session the tests' service created for ``tenant``."""
    return f"cs_{tenant}"


def checkout(
    sub: Any = "sub_1", tenant: str = "acme", paid: bool = True, customer: str = "cus_1", session: str | None = None
) -> dict[str, Any]:
    """A completed checkout session (by default the one the service created for ``tenant``)."""
    return {
        "id": session or session_id(tenant),
        "object": "checkout.session",
        "customer": customer,
        "subscription": sub,
        "mode": "subscription",
        "client_reference_id": tenant,
        "metadata": {"tenant": tenant},
        "payment_status": "paid" if paid else "unpaid",
    }


def invoice(sub_id: str = "sub_1") -> dict[str, Any]:
    """An invoice in the current API shape (subscription under parent.subscription_details)."""
    return {
        "id": "in_1",
        "object": "invoice",
        "customer": "cus_1",
        "parent": {"type": "subscription_details", "subscription_details": {"subscription": sub_id, "metadata": {}}},
    }


class RecordingHttpClient(stripe.RequestsClient):
    """The stripe library's own HTTP client, recording each outgoing request."""

    def __init__(self) -> None:
        super().__init__(timeout=5)
        self.sent: list[tuple[str, str, dict[str, str], Any]] = []

    def request(self, method, url, headers, post_data=None):  # type: ignore[no-untyped-def,override]
        self.sent.append((method, url, dict(headers or {}), post_data))
        return super().request(method, url, headers, post_data)


class FakeStripe:
    """SubscriptionSource over a dict: the 'current truth' tests set directly."""

    def __init__(self) -> None:
        self.subs: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def current(self, subscription_id: str) -> Subscription:
        self.calls += 1
        return parse_subscription(self.subs[subscription_id])


class RecordingSink:
    """ActionSink that records what it was asked to do (optionally failing)."""

    def __init__(self, fail: bool = False) -> None:
        self.done: list[Any] = []
        self.fail = fail

    def _do(self, action: Any) -> None:
        if self.fail:
            raise RuntimeError("sink down")
        self.done.append(action)

    provision = resize = suspend = resume = decommission = _do


@pytest.fixture
def fake_stripe() -> FakeStripe:
    """A fresh :class:`FakeStripe`."""
    return FakeStripe()


Signer = Callable[..., tuple[bytes, str]]
