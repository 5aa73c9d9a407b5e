"""Checkout rules and Stripe Checkout Sessions: what a price buys, and the session that sells it.

:func:`purchase` reads the price mapping (:class:`~billing.config.BillingConfig`): which plan and how many
servers a price and quantity buy. The session the service creates carries the tenant in ``metadata`` and
``subscription_data.metadata`` (and, for Stripe's dashboard, ``client_reference_id``); none of it comes
from the caller. A tenant already bound to a customer pays as that customer, so a returning tenant never
creates a second binding. The checkout flow that uses both is :mod:`billing.adapter.checkout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from billing.config import BillingConfig
from billing.stripe_api import StripeUnavailable


class PriceRefused(ValueError):
    """The price or quantity does not fit the price mapping; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class Purchase:
    """What one checkout buys: ``servers`` on ``plan``, sold as a line item of ``quantity``."""

    plan: str
    servers: int
    quantity: int


def purchase(config: BillingConfig, price: str, quantity: int | None) -> Purchase:
    """What ``quantity`` (None: 1) of ``price`` buys; raises :class:`PriceRefused` naming the field.

    A fixed-count price (``servers`` set) is one line item and takes no quantity; otherwise the
    quantity is the number of servers.
    """
    rule = config.prices.get(price)
    if rule is None:
        raise PriceRefused("price", "not a price of SERVICE_BILLING_CONFIG")
    if rule.servers is not None:
        if quantity not in (None, 1):
            raise PriceRefused("quantity", f"price {price} always buys {rule.servers} servers; omit quantity")
        return Purchase(rule.plan, rule.servers, 1)
    servers = quantity or 1
    return Purchase(rule.plan, servers, servers)


@dataclass(frozen=True)
class CheckoutRequest:
    """One checkout, as the service decided it: who pays, for which price and how many."""

    tenant: str
    organization_id: str
    price: str
    quantity: int
    customer: str | None = None
    """The tenant's bound Stripe customer, if it has one."""
    email: str | None = None
    """Prefilled for a tenant without a customer yet (the tenant's owner)."""


@dataclass(frozen=True)
class CheckoutSession:
    """What the caller gets back: the session id and the URL to send the customer to."""

    id: str
    url: str


def session_params(request: CheckoutRequest, success_url: str, cancel_url: str) -> dict[str, Any]:
    """The ``POST /v1/checkout/sessions`` parameters (a pure function of the request)."""
    metadata = {"tenant": request.tenant, "organization_id": request.organization_id}
    params: dict[str, Any] = {
        "mode": "subscription",
        "success_url": success_url,
        "cancel_url": cancel_url,
        "line_items": [{"price": request.price, "quantity": request.quantity}],
        "client_reference_id": request.tenant,
        "metadata": metadata,
        "subscription_data": {"metadata": dict(metadata)},
    }
    if request.customer:
        params["customer"] = request.customer
    elif request.email:
        params["customer_email"] = request.email
    return params


class CheckoutSessions:
    """Creates checkout sessions through the stripe library (timeouts and retries from the client)."""

    def __init__(self, client: stripe.StripeClient, success_url: str, cancel_url: str) -> None:
        self._client, self.success_url, self.cancel_url = client, success_url, cancel_url

    def create(self, request: CheckoutRequest) -> CheckoutSession:
        """Create the session; raises :class:`StripeUnavailable` (no secrets in the message)."""
        try:
            session = self._client.v1.checkout.sessions.create(
                session_params(request, self.success_url, self.cancel_url)  # type: ignore[arg-type]  # plain dict
            )
        except stripe.StripeError as exc:
            raise StripeUnavailable(
                f"creating a checkout session for tenant {request.tenant} failed: "
                f"{type(exc).__name__} (HTTP {exc.http_status})"
            ) from None
        return CheckoutSession(session.id, session.url or "")
