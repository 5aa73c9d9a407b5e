"""Normalised billing events: the few fields of a Stripe event that decisions depend on.

Stripe objects are read as plain dicts (the verified webhook body, or a subscription fetched from the
API), so decisions stay pure and testable without Stripe. ``tenant`` is only what the event *claims*
(``metadata.tenant``, set server-side when the service creates a checkout session); the checkout's
``client_reference_id`` is never read, because a payment link lets any customer choose it. Which tenant
an event really concerns is decided by :class:`billing.adapter.store.BillingStore` from the checkout sessions the
service created and the tenant <-> customer binding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from billing.config import BillingConfig

CHECKOUT_COMPLETED = "checkout.session.completed"
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)
PAYMENT_SUCCEEDED = "invoice.payment_succeeded"
PAYMENT_FAILED = "invoice.payment_failed"
HANDLED = (CHECKOUT_COMPLETED, *SUBSCRIPTION_EVENTS, PAYMENT_SUCCEEDED, PAYMENT_FAILED)


class BillingDataError(ValueError):
    """A Stripe object we cannot map (e.g. items for several plans); the message names the object."""


@dataclass(frozen=True)
class Item:
    """One subscription item: which price and how many."""

    price_id: str | None
    lookup_key: str | None
    quantity: int


@dataclass(frozen=True)
class Subscription:
    """The parts of a Stripe subscription decisions need."""

    id: str
    status: str
    created: int
    customer: str | None = None
    tenant: str | None = None
    items: tuple[Item, ...] = ()


@dataclass(frozen=True)
class Entitlement:
    """What an active subscription pays for."""

    plan: str | None
    servers: int


@dataclass(frozen=True)
class BillingEvent:
    """A verified Stripe event, reduced to what :func:`billing.decide.decide` reads."""

    id: str
    type: str
    created: int
    tenant: str | None = None
    customer: str | None = None
    subscription_id: str | None = None
    subscription: Subscription | None = None
    fresh: bool = False
    """True when ``subscription`` was fetched from Stripe just now (current truth, not the event's snapshot)."""
    paid: bool = True
    """For checkout sessions: ``payment_status`` is ``paid`` or ``no_payment_required``."""
    session_id: str | None = None
    """For checkout sessions: the session's id (``cs_...``)."""


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _meta_tenant(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    tenant = meta.get("tenant") if isinstance(meta, Mapping) else None
    return tenant if isinstance(tenant, str) and tenant else None


def parse_subscription(obj: Mapping[str, Any]) -> Subscription:
    """A Stripe subscription object (dict) → :class:`Subscription`."""
    items = []
    for raw in (obj.get("items") or {}).get("data") or ():
        price = raw.get("price") or raw.get("plan") or {}
        items.append(
            Item(
                price_id=_id(price),
                lookup_key=price.get("lookup_key") if isinstance(price, Mapping) else None,
                quantity=int(raw.get("quantity") or 0),
            )
        )
    return Subscription(
        id=str(obj["id"]),
        status=str(obj.get("status") or ""),
        created=int(obj.get("created") or 0),
        customer=_id(obj.get("customer")),
        tenant=_meta_tenant(obj),
        items=tuple(items),
    )


def entitlement(sub: Subscription, config: BillingConfig) -> Entitlement:
    """Plan and server count bought by ``sub`` (Dokploy's formula: fixed per price, else the item's quantity)."""
    plans: list[str] = []
    servers = 0
    for item in sub.items:
        rule = config.rule_for(item.price_id, item.lookup_key)
        if rule is None:
            continue
        if rule.plan not in plans:
            plans.append(rule.plan)
        servers += rule.servers if rule.servers is not None else item.quantity
    if len(plans) > 1:
        raise BillingDataError(f"subscription {sub.id}: items map to several plans {plans}")
    return Entitlement(plan=plans[0] if plans else None, servers=servers)


def _invoice_subscription(inv: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(subscription id, tenant) of an invoice.

    Both shapes: old (``subscription``) and new (``parent.subscription_details``).
    """
    details = (inv.get("parent") or {}).get("subscription_details") or inv.get("subscription_details") or {}
    sub_id = _id(inv.get("subscription")) or _id(details.get("subscription"))
    return sub_id, _meta_tenant(details) or _meta_tenant(inv)


def parse_event(event: Mapping[str, Any]) -> BillingEvent:
    """A Stripe event dict → :class:`BillingEvent`; unknown types keep only id/type/created."""
    obj: Mapping[str, Any] = (event.get("data") or {}).get("object") or {}
    base = BillingEvent(id=str(event["id"]), type=str(event["type"]), created=int(event.get("created") or 0))
    etype = base.type
    if etype == CHECKOUT_COMPLETED:
        raw_sub = obj.get("subscription")
        return replace(
            base,
            tenant=_meta_tenant(obj),
            session_id=_id(obj.get("id")),
            customer=_id(obj.get("customer")),
            subscription_id=_id(raw_sub),
            subscription=parse_subscription(raw_sub) if isinstance(raw_sub, Mapping) else None,
            paid=obj.get("payment_status") in ("paid", "no_payment_required"),
        )
    if etype in SUBSCRIPTION_EVENTS:
        sub = parse_subscription(obj)
        return replace(base, tenant=sub.tenant, customer=sub.customer, subscription_id=sub.id, subscription=sub)
    if etype in (PAYMENT_SUCCEEDED, PAYMENT_FAILED):
        sub_id, tenant = _invoice_subscription(obj)
        return replace(base, tenant=tenant, customer=_id(obj.get("customer")), subscription_id=sub_id)
    return base
