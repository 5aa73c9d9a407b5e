"""The tenant <-> customer binding in the billing store: made once, by a checkout session the service created."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.adapter.store import BillingStore
from billing.decide import Decommission, Provision
from billing.model import CHECKOUT_COMPLETED, BillingEvent, parse_subscription
from billing.states import TenantState
from tests.billing.conftest import CONFIG, subscription


@pytest.fixture
def store(tmp_path: Path) -> BillingStore:
    """A store that created acme's checkout session for organization org_a."""
    created = BillingStore(tmp_path / "billing.sqlite3", CONFIG)
    created.record_session("cs_a", "acme", "org_a")
    return created


def _paid(event_id: str, session: str, customer: str, sub_id: str, created: int) -> BillingEvent:
    sub = parse_subscription(subscription(sub_id, created=created, customer=customer))
    return BillingEvent(
        event_id,
        CHECKOUT_COMPLETED,
        created,
        tenant="acme",
        customer=customer,
        session_id=session,
        subscription_id=sub_id,
        subscription=sub,
        fresh=True,
    )


def _ended(event_id: str, customer: str, sub_id: str, created: int) -> BillingEvent:
    sub = parse_subscription(subscription(sub_id, status="canceled", created=created, customer=customer))
    return BillingEvent(
        event_id,
        "customer.subscription.deleted",
        created,
        tenant="acme",
        customer=customer,
        subscription_id=sub_id,
        subscription=sub,
        fresh=True,
    )


def test_a_session_we_did_not_create_never_binds(store: BillingStore) -> None:
    result = store.process(_paid("evt_1", "cs_payment_link", "cus_x", "sub_x", 100))
    assert (
        result.note.startswith("refused: tenant acme has no Stripe customer") and store.state("acme").customer is None
    )


@pytest.mark.parametrize("new_customer", ["cus_b", "cus_a"])
def test_a_reused_slug_binds_anew_for_its_new_organization(store: BillingStore, new_customer: str) -> None:
    assert store.process(_paid("evt_1", "cs_a", "cus_a", "sub_a", 100)).decision.actions == (
        Provision("acme", "starter", 1),
    )
    assert store.process(_ended("evt_2", "cus_a", "sub_a", 200)).decision.actions == (
        Decommission("acme", "subscription canceled"),
    )
    # While billing is active, only the bound customer counts; once it ended, another organization's session binds anew.
    store.record_session("cs_b", "acme", "org_b")
    result = store.process(_paid("evt_3", "cs_b", new_customer, "sub_b", 300))
    assert result.decision is not None and result.decision.actions == (Provision("acme", "starter", 1),), result.note
    state = store.state("acme")
    assert (state.customer, state.organization, state.subscription_id, state.lifecycle) == (
        new_customer,
        "org_b",
        "sub_b",
        TenantState.ACTIVE,
    )


def test_an_active_tenant_is_never_rebound(store: BillingStore) -> None:
    store.process(_paid("evt_1", "cs_a", "cus_a", "sub_a", 100))
    store.record_session("cs_b", "acme", "org_b")
    result = store.process(_paid("evt_2", "cs_b", "cus_b", "sub_b", 300))
    assert result.note == "refused: tenant acme is bound to customer cus_a; event from customer cus_b refused"
    assert store.state("acme").customer == "cus_a" and store.state("acme").subscription_id == "sub_a"
