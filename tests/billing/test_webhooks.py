"""Webhook intake: forged deliveries have no effect; replays and reordering have no double effect."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from billing.adapter.store import BillingStore
from billing.adapter.webhooks import WebhookHandler
from billing.decide import Decommission, Provision, Resize, Resume, Suspend
from billing.stripe_api import StripeSubscriptions, stripe_client
from billing.webhooks import WebhookRejected
from tests.billing.conftest import (
    MOCK_PRICE,
    WEBHOOK_SECRET,
    FakeStripe,
    RecordingSink,
    checkout,
    event,
    invoice,
    sign,
    subscription,
)

NOW = int(time.time())


def handler(store: BillingStore, source: FakeStripe | None = None) -> WebhookHandler:
    return WebhookHandler(store, SecretStr(WEBHOOK_SECRET), source)


def checkout_event(eid: str = "evt_checkout") -> dict:
    return event(eid, "checkout.session.completed", checkout(subscription(items=(("price_business", 2),))), NOW)


@pytest.mark.parametrize(
    "forge",
    [
        lambda body, header: (body, header.replace("v1=", "v1=00")),  # bad signature
        lambda body, header: sign(checkout_event(), secret="whsec_wrong"),  # wrong secret
        lambda body, header: (body.replace(b'"acme"', b'"evil"'), header),  # tampered body
        lambda body, header: (body, None),  # no header
        lambda body, header: sign(checkout_event(), timestamp=NOW - 3600),  # replay outside tolerance
    ],
)
def test_forged_deliveries_are_rejected_without_effect(store: BillingStore, forge) -> None:
    body, header = forge(*sign(checkout_event()))
    with pytest.raises(WebhookRejected) as info:
        handler(store).handle(body, header)
    assert WEBHOOK_SECRET not in str(info.value) and "whsec_wrong" not in str(info.value)
    assert store.pending() == [] and not store.seen("evt_checkout")
    assert store.state("acme").lifecycle is None and store.state("evil").lifecycle is None


def test_paid_checkout_queues_provision_and_replay_is_a_no_op(store: BillingStore) -> None:
    body, header = sign(checkout_event())
    first = handler(store).handle(body, header)
    again = handler(store).handle(body, header)
    assert not first.duplicate and again.duplicate
    assert [q.action for q in store.pending()] == [Provision("acme", "business", 2)]


def test_drain_hands_actions_to_the_sink_once(store: BillingStore) -> None:
    handler(store).handle(*sign(checkout_event()))
    with pytest.raises(RuntimeError):
        store.drain(RecordingSink(fail=True))
    assert len(store.pending()) == 1  # a failed sink call leaves the action queued
    sink = RecordingSink()
    assert store.drain(sink) == 1 and store.drain(sink) == 0
    assert sink.done == [Provision("acme", "business", 2)]


def test_state_survives_a_new_store_instance(store: BillingStore) -> None:
    handler(store).handle(*sign(checkout_event()))
    reopened = BillingStore(store.path, store.config)
    assert reopened.state("acme").plan == "business" and reopened.seen("evt_checkout")


def test_full_lifecycle_through_signed_deliveries(store: BillingStore) -> None:
    h = handler(store)
    sub = lambda **kw: subscription(**kw)  # noqa: E731
    for raw in [
        checkout_event(),
        event("e2", "customer.subscription.updated", sub(items=(("price_business", 3),)), NOW + 10),
        event("e3", "invoice.payment_failed", invoice(), NOW + 20),
        event("e4", "invoice.payment_succeeded", invoice(), NOW + 30),
        event("e5", "customer.subscription.deleted", sub(status="canceled"), NOW + 40),
    ]:
        h.handle(*sign(raw))
    assert [q.action for q in store.pending()] == [
        Provision("acme", "business", 2),
        Resize("acme", "business", 3, "business", 2),
        Suspend("acme", NOW + 20 + 3600, "payment_failed"),
        Resume("acme"),
        Decommission("acme", "subscription canceled"),
    ]


def test_invoice_without_tenant_metadata_is_matched_by_customer(store: BillingStore) -> None:
    h = handler(store)
    h.handle(*sign(checkout_event()))
    h.handle(*sign(event("e2", "invoice.payment_failed", invoice(), NOW + 5)))
    assert isinstance(store.pending()[-1].action, Suspend)


def test_reordered_deliveries_with_fresh_fetch_act_on_current_truth(
    store: BillingStore, fake_stripe: FakeStripe
) -> None:
    """Stripe says business x3 now; old events arriving late (or first) still lead to business x3, once."""
    fake_stripe.subs["sub_1"] = subscription(items=(("price_business", 3),))
    h = handler(store, fake_stripe)
    late_created = event("e1", "customer.subscription.created", subscription(), NOW)
    updated = event("e2", "customer.subscription.updated", subscription(items=(("price_business", 3),)), NOW + 10)
    for raw in [updated, late_created, checkout_event("e0"), updated]:
        h.handle(*sign(raw))
    assert [q.action for q in store.pending()] == [Provision("acme", "business", 3)]
    assert fake_stripe.calls == 3  # the replayed delivery is recognised before any fetch


def test_unhandled_event_types_are_acknowledged_and_ignored(store: BillingStore) -> None:
    result = handler(store).handle(*sign(event("e9", "customer.created", {"id": "cus_1"}, NOW)))
    assert "not handled" in result.note and store.pending() == []


def test_stripe_mock_subscription_feeds_the_decision(store: BillingStore, stripe_settings) -> None:
    """The real client path: GET /v1/subscriptions/{id} on stripe-mock, parsed and decided upon."""
    source = StripeSubscriptions(stripe_client(stripe_settings))
    current = source.current("sub_123")
    assert current.status == "active" and current.items[0].price_id == MOCK_PRICE
    h = WebhookHandler(store, SecretStr(WEBHOOK_SECRET), source)
    h.handle(*sign(event("evt_mock", "checkout.session.completed", checkout("sub_123"), NOW)))
    assert [q.action for q in store.pending()] == [Provision("acme", "starter", 1)]
