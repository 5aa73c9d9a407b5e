"""Pure decisions: each billing event's effect on the tenant, and order independence."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from billing.decide import (
    BillingState,
    Decommission,
    Provision,
    Resize,
    Resume,
    Suspend,
    decide,
)
from billing.model import parse_event
from billing.states import TenantState
from tests.billing.conftest import CONFIG, checkout, event, invoice, subscription


def run(events: list[dict], state: BillingState | None = None) -> tuple[BillingState, list]:
    state = state or BillingState("acme")
    actions: list = []
    for raw in events:
        d = decide(parse_event(raw), state, CONFIG)
        state, actions = d.state, actions + list(d.actions)
    return state, actions


def test_paid_checkout_with_subscription_provisions_the_plans_servers() -> None:
    state, actions = run(
        [event("evt_1", "checkout.session.completed", checkout(subscription(items=(("price_business", 2),))), 100)]
    )
    assert actions == [Provision("acme", "business", 2)]
    assert state.lifecycle is TenantState.ACTIVE and state.customer == "cus_1"


def test_unpaid_checkout_does_nothing() -> None:
    assert run([event("evt_1", "checkout.session.completed", checkout(subscription(), paid=False), 100)])[1] == []


def test_fixed_server_price_counts_like_dokploys_startup_base() -> None:
    sub = subscription(items=(("business_base", 1), ("price_business", 2)))
    assert run([event("e", "customer.subscription.created", sub, 100)])[1] == [Provision("acme", "business", 5)]


def test_upgrade_resizes_and_downgrade_shrinks() -> None:
    created = event("e1", "customer.subscription.created", subscription(), 100)
    up = event("e2", "customer.subscription.updated", subscription(items=(("price_business", 3),)), 200)
    down = event("e3", "customer.subscription.updated", subscription(items=(("price_business", 1),)), 300)
    _, actions = run([created, up, down])
    assert actions == [
        Provision("acme", "starter", 1),
        Resize("acme", "business", 3, "starter", 1),
        Resize("acme", "business", 1, "business", 3),
    ]


def test_failed_payment_suspends_after_grace_and_recovery_resumes() -> None:
    created = event("e1", "customer.subscription.created", subscription(), 100)
    failed = event("e2", "invoice.payment_failed", invoice(), 500)
    paid = event("e3", "invoice.payment_succeeded", invoice(), 900)
    state, actions = run([created, failed, paid])
    assert actions[1:] == [Suspend("acme", 500 + CONFIG.grace_seconds, "payment_failed"), Resume("acme")]
    assert state.lifecycle is TenantState.ACTIVE and state.suspend_at is None


def test_past_due_subscription_suspends_and_active_again_resumes() -> None:
    created = event("e1", "customer.subscription.created", subscription(), 100)
    past_due = event("e2", "customer.subscription.updated", subscription(status="past_due"), 200)
    active = event("e3", "customer.subscription.updated", subscription(), 300)
    assert run([created, past_due, active])[1][1:] == [
        Suspend("acme", 200 + 3600, "subscription_past_due"),
        Resume("acme"),
    ]


def test_cancellation_decommissions_once() -> None:
    created = event("e1", "customer.subscription.created", subscription(), 100)
    deleted = event("e2", "customer.subscription.deleted", subscription(status="canceled"), 200)
    state, actions = run([created, deleted, replace_id(deleted, "e3")])
    assert actions[1:] == [Decommission("acme", "subscription canceled")]
    assert state.lifecycle is TenantState.DECOMMISSIONED


def test_a_decommissioned_tenant_is_never_suspended_or_resumed() -> None:
    created = event("e1", "customer.subscription.created", subscription(), 100)
    deleted = event("e2", "customer.subscription.deleted", subscription(status="canceled"), 200)
    state, _ = run([created, deleted])
    later, actions = run(
        [
            event("e3", "invoice.payment_failed", invoice(), 300),
            event("e4", "invoice.payment_succeeded", invoice(), 400),
        ],
        state,
    )
    assert actions == [] and later.lifecycle is TenantState.DECOMMISSIONED


def replace_id(raw: dict, new_id: str) -> dict:
    return {**raw, "id": new_id}


def test_stale_payment_failure_after_recovery_is_ignored() -> None:
    created = event("e1", "customer.subscription.created", subscription(), 100)
    failed = event("e2", "invoice.payment_failed", invoice(), 500)
    paid = event("e3", "invoice.payment_succeeded", invoice(), 900)
    state, actions = run([created, paid, failed])
    assert actions == [Provision("acme", "starter", 1)] and state.lifecycle is TenantState.ACTIVE


def test_events_for_a_superseded_subscription_are_ignored() -> None:
    state, _ = run([event("e1", "customer.subscription.created", subscription("sub_2", created=500), 600)])
    old = event("e2", "customer.subscription.deleted", subscription("sub_1", status="canceled", created=100), 700)
    assert decide(parse_event(old), state, CONFIG).actions == ()


def test_new_subscription_after_decommission_provisions_again() -> None:
    state, _ = run(
        [
            event("e1", "customer.subscription.created", subscription(), 100),
            event("e2", "customer.subscription.deleted", subscription(status="canceled"), 200),
        ]
    )
    again = event("e3", "customer.subscription.created", subscription("sub_2", created=300), 300)
    assert decide(parse_event(again), state, CONFIG).actions == (Provision("acme", "starter", 1),)


SNAPSHOTS = [
    subscription(items=(("price_starter", 1),)),
    subscription(items=(("price_business", 2),)),
    subscription(items=(("price_business", 3),)),
    subscription(items=(("price_starter", 1),)),
]


@given(st.permutations(list(range(len(SNAPSHOTS)))))
def test_any_delivery_order_converges_to_the_newest_snapshot(order: list[int]) -> None:
    """Snapshots from the events themselves: the newest by ``created`` wins (fresh fetches: test_webhooks)."""
    events = [event(f"e{i}", "customer.subscription.updated", SNAPSHOTS[i], 100 * (i + 1)) for i in order]
    state, actions = run(events)
    newest, _ = run([event(f"e{i}", "customer.subscription.updated", SNAPSHOTS[i], 100 * (i + 1)) for i in range(4)])
    assert (state.lifecycle, state.plan, state.servers) == (newest.lifecycle, newest.plan, newest.servers)
    assert sum(isinstance(a, Provision) for a in actions) == 1


@given(st.lists(st.sampled_from(range(4)), min_size=1, max_size=12))
def test_replaying_the_same_facts_adds_no_action(indices: list[int]) -> None:
    events = [event("e", "customer.subscription.updated", SNAPSHOTS[i], 100 * (i + 1)) for i in indices]
    state, _ = run(events)
    again = decide(parse_event(events[-1]), state, CONFIG)
    assert again.actions == () and again.state == replace(state)


def test_stale_active_snapshot_does_not_lift_a_newer_past_due() -> None:
    created = event("e1", "customer.subscription.created", subscription(), 100)
    past_due = event("e3", "customer.subscription.updated", subscription(status="past_due"), 300)
    stale = event("e2", "customer.subscription.updated", subscription(), 200)
    state, actions = run([created, past_due, stale])
    assert state.lifecycle is TenantState.SUSPENDED and not any(isinstance(a, Resume) for a in actions)
