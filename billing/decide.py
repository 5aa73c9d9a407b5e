"""Pure billing decisions: ``decide(event, state, config) -> Decision(state, actions)``.

Safe in any order: a subscription snapshot older than what was already applied (``seen_at``) is
ignored unless it was fetched from Stripe just now (``fresh``); events about a superseded
subscription are ignored; every action is emitted only when the desired outcome differs from the
recorded one, so a replay of the same facts yields no action. Deduplication by event id is the
store's job (:mod:`billing.adapter.store`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from billing.config import BillingConfig
from billing.model import (
    CHECKOUT_COMPLETED,
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    BillingEvent,
    Subscription,
    entitlement,
)
from billing.states import TenantState

PAYMENT_REASON = "payment_failed"


@dataclass(frozen=True)
class Provision:
    """Create the tenant's servers: ``servers`` on ``plan`` (gated on an active, paid subscription)."""

    tenant: str
    plan: str
    servers: int


@dataclass(frozen=True)
class Resize:
    """Change plan and/or server count; a smaller count means decommissioning the surplus servers."""

    tenant: str
    plan: str
    servers: int
    previous_plan: str | None
    previous_servers: int


@dataclass(frozen=True)
class Suspend:
    """Stop the tenant's VMs at or after ``not_before`` (``state: suspended``: names and Dokploy registration kept).

    A later :class:`Resume` for the tenant cancels a suspension that has not happened yet.
    """

    tenant: str
    not_before: int
    reason: str


@dataclass(frozen=True)
class Resume:
    """Start the tenant again after a suspension (or cancel a pending one)."""

    tenant: str


@dataclass(frozen=True)
class Decommission:
    """Destroy the tenant's servers for good."""

    tenant: str
    reason: str


Action = Provision | Resize | Suspend | Resume | Decommission


@dataclass(frozen=True)
class BillingState:
    """What billing last decided for one tenant."""

    tenant: str
    lifecycle: TenantState | None = None
    """None until the first provisioning."""
    customer: str | None = None
    """The Stripe customer the tenant is bound to (see :mod:`billing.adapter.store`)."""
    organization: str | None = None
    """The Dokploy organization the tenant had when the binding was made (a re-used slug binds anew)."""
    subscription_id: str | None = None
    subscription_created: int = 0
    plan: str | None = None
    servers: int = 0
    seen_at: int = 0
    """``created`` of the newest event whose facts were applied."""
    suspend_reason: str | None = None
    suspend_at: int | None = None


@dataclass(frozen=True)
class Decision:
    """The new state, the actions to execute, and a short note on why (for logs and tests)."""

    state: BillingState
    actions: tuple[Action, ...] = ()
    note: str = ""


def decide(event: BillingEvent, state: BillingState, config: BillingConfig) -> Decision:
    """Decide what ``event`` means for the tenant in ``state``."""
    if event.subscription_id and not _concerns_current(event, state):
        return Decision(state, note=f"ignored: subscription {event.subscription_id} is not the tenant's current one")
    state = _remember_ids(event, state)
    if not event.fresh and event.created < state.seen_at:
        return Decision(state, note="ignored: older than facts already applied")
    state = replace(state, seen_at=max(state.seen_at, event.created))
    if event.type == PAYMENT_FAILED:
        return _payment_failed(event, state, config)
    if event.type == PAYMENT_SUCCEEDED and event.subscription is None:
        return _resume_if_suspended(state, PAYMENT_REASON, "payment recovered")
    if event.type == CHECKOUT_COMPLETED and not event.paid:
        return Decision(state, note="waiting: checkout not paid yet")
    if event.subscription is None:
        return Decision(state, note="recorded ids; no subscription snapshot to act on")
    return _apply_subscription(event.subscription, event, state, config)


def _concerns_current(event: BillingEvent, state: BillingState) -> bool:
    if state.subscription_id in (None, event.subscription_id) or state.lifecycle is TenantState.DECOMMISSIONED:
        return True
    sub = event.subscription
    return sub is not None and sub.created > state.subscription_created and sub.status in ("active", "trialing")


def _remember_ids(event: BillingEvent, state: BillingState) -> BillingState:
    sub = event.subscription
    new_sub = event.subscription_id and event.subscription_id != state.subscription_id
    if (
        new_sub
        and state.lifecycle is TenantState.DECOMMISSIONED
        and (sub is None or sub.status not in ("active", "trialing"))
    ):
        return state  # a dead subscription must not overwrite the record of the one that ended
    if new_sub:
        state = replace(
            state,
            subscription_id=event.subscription_id,
            subscription_created=sub.created if sub else 0,
            lifecycle=None if state.lifecycle is TenantState.DECOMMISSIONED else state.lifecycle,
            seen_at=0 if state.lifecycle is TenantState.DECOMMISSIONED else state.seen_at,
        )
    elif sub is not None and not state.subscription_created:
        state = replace(state, subscription_created=sub.created)
    return replace(state, customer=event.customer or state.customer)


def _apply_subscription(sub: Subscription, event: BillingEvent, state: BillingState, config: BillingConfig) -> Decision:
    if sub.status in config.ended_statuses or event.type == "customer.subscription.deleted":
        if state.lifecycle in (None, TenantState.DECOMMISSIONED):
            return Decision(
                replace(state, lifecycle=TenantState.DECOMMISSIONED) if state.lifecycle else state,
                note="nothing to decommission",
            )
        return Decision(
            replace(state, lifecycle=TenantState.DECOMMISSIONED, suspend_at=None, suspend_reason=None),
            (Decommission(state.tenant, f"subscription {sub.status or 'deleted'}"),),
            "decommission",
        )
    ent = entitlement(sub, config)
    active = sub.status in config.active_statuses
    if ent.plan is None or (state.lifecycle is None and not active):
        return Decision(state, note=f"ignored: subscription {sub.id} is {sub.status} or maps to no plan")
    actions: list[Action] = []
    if state.lifecycle is None:
        actions.append(Provision(state.tenant, ent.plan, ent.servers))
    elif (ent.plan, ent.servers) != (state.plan, state.servers):
        actions.append(Resize(state.tenant, ent.plan, ent.servers, state.plan, state.servers))
    new = replace(state, lifecycle=state.lifecycle or TenantState.ACTIVE, plan=ent.plan, servers=ent.servers)
    if not active:  # the entitlement is still recorded, so a later resume finds the right size
        suspended = _suspend(new, event.created + config.grace_seconds, f"subscription_{sub.status or 'unknown'}")
        return Decision(suspended.state, (*actions, *suspended.actions), suspended.note)
    # A payment suspension lifts only on a paid invoice; a status suspension when the status is active again.
    if new.lifecycle is TenantState.SUSPENDED and (
        new.suspend_reason != PAYMENT_REASON or event.type == PAYMENT_SUCCEEDED
    ):
        resumed = _resume_if_suspended(new, new.suspend_reason, "subscription active again")
        return Decision(resumed.state, (*actions, *resumed.actions), resumed.note)
    return Decision(new, tuple(actions), "entitlement applied" if actions else "no change")


def _payment_failed(event: BillingEvent, state: BillingState, config: BillingConfig) -> Decision:
    if state.lifecycle is not TenantState.ACTIVE:
        return Decision(state, note="payment failed; tenant not active, nothing to suspend")
    return _suspend(state, event.created + config.grace_seconds, PAYMENT_REASON)


def _suspend(state: BillingState, not_before: int, reason: str) -> Decision:
    if state.lifecycle is not TenantState.ACTIVE:
        return Decision(state, note=f"already {state.lifecycle.value if state.lifecycle else 'unprovisioned'}")
    new = replace(state, lifecycle=TenantState.SUSPENDED, suspend_at=not_before, suspend_reason=reason)
    return Decision(new, (Suspend(state.tenant, not_before, reason),), "suspend after grace")


def _resume_if_suspended(state: BillingState, reason: str | None, note: str) -> Decision:
    if state.lifecycle is not TenantState.SUSPENDED:
        return Decision(state, note="not suspended")
    new = replace(state, lifecycle=TenantState.ACTIVE, suspend_at=None, suspend_reason=None)
    return Decision(new, (Resume(state.tenant),), f"resume: {note} ({reason})")
