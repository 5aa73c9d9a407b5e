"""``POST /v1/tenants/{slug}/checkout-session``: a Stripe Checkout Session for a known tenant or held signup.

The caller (an operator, or the signup sender with its HMAC signature) names only the price and the
quantity; the tenant, its Dokploy organization, its bound customer and the metadata that will identify
the tenant in Stripe's events are set here. What the price buys is checked like any declaration change
(:func:`service.declare.redeclare`) before Stripe is asked for anything. The session id is recorded, so
only its completion can bind the tenant to a Stripe customer (see :mod:`billing.adapter.store`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from billing.adapter.runtime import BillingRuntime
from billing.adapter.store import billed_to_organization
from billing.checkout import CheckoutRequest, CheckoutSession, PriceRefused, purchase
from billing.states import TenantState
from components.spec import SpecErrors
from service.declare import DeclarationRefused, redeclare, stored_spec
from service.queue import NotFound

_CLOSED_PHASES = ("decommissioned", "cancelled")
# Declaration field -> the checkout request's field that decides it.
_REQUEST_FIELD = {"servers": "quantity", "plan": "price"}


class CheckoutBody(BaseModel):
    """The request body: nothing that identifies the tenant (extra fields, e.g. ``metadata``, are refused)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    price: str = Field(min_length=1, max_length=255, description="Price id or lookup key from SERVICE_BILLING_CONFIG")
    quantity: int | None = Field(default=None, ge=1, le=1000, description="Servers, for per-server prices")


class CheckoutRefused(Exception):
    """The checkout cannot be created; ``status`` is the HTTP answer and ``detail`` names the field."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(str(detail))
        self.status, self.detail = status, detail


def parse_body(body: bytes) -> CheckoutBody:
    """Decode the JSON body; :class:`CheckoutRefused` (422) naming each bad field."""
    try:
        return CheckoutBody.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise CheckoutRefused(
            422, [{"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]} for e in exc.errors()]
        ) from None


def checkout_request(billing: BillingRuntime, slug: str, body: CheckoutBody) -> CheckoutRequest:
    """The checkout the service will create for ``slug``; :class:`CheckoutRefused` when it must not."""
    queue, environment = billing.sink.queue, billing.sink.environment
    try:
        tenant = queue.get_tenant(slug)
        spec = stored_spec(queue, environment, slug)
    except NotFound:
        raise CheckoutRefused(404, f"no tenant {slug!r}: sign it up first") from None
    except SpecErrors as exc:
        raise CheckoutRefused(409, f"tenant {slug}'s declaration is invalid: {exc}") from None
    if tenant.phase in _CLOSED_PHASES:
        raise CheckoutRefused(409, f"tenant {slug!r} is {tenant.phase}; sign it up again first")
    others = [
        t.slug
        for t in queue.list_tenants()
        if t.organization_id == tenant.organization_id and t.slug != slug and t.phase not in _CLOSED_PHASES
    ]
    if others:
        raise CheckoutRefused(
            409,
            f"Dokploy organization {tenant.organization_id} already has tenant {others[0]!r}; "
            "one tenant per organization",
        )
    try:
        bought = purchase(billing.store.config, body.price, body.quantity)
        redeclare(environment, spec, plan=bought.plan, servers=bought.servers)
    except PriceRefused as exc:
        raise CheckoutRefused(422, [{"field": exc.field, "message": exc.message}]) from None
    except DeclarationRefused as exc:
        raise CheckoutRefused(422, [p.public() for p in exc.renamed(_REQUEST_FIELD).problems]) from None
    billed = billing.store.state(slug)
    ours = billed_to_organization(billed, tenant.organization_id)
    if billed.customer is not None and not ours and billed.lifecycle not in (None, TenantState.DECOMMISSIONED):
        raise CheckoutRefused(
            409,
            f"tenant {slug!r} is still billed to another organization's Stripe customer; "
            "its subscription must end first",
        )
    return CheckoutRequest(
        slug,
        tenant.organization_id,
        body.price,
        bought.quantity,
        customer=billed.customer if ours else None,
        email=spec.owner,
    )


def open_checkout(billing: BillingRuntime, slug: str, body: CheckoutBody) -> CheckoutSession:
    """Create and record the session (raises :class:`CheckoutRefused` or ``StripeUnavailable``)."""
    if billing.sessions is None:
        raise CheckoutRefused(
            503,
            "checkout is not configured: set STRIPE_API_KEY and checkout.success_url / "
            "checkout.cancel_url in SERVICE_BILLING_CONFIG",
        )
    request = checkout_request(billing, slug, body)
    session = billing.sessions.create(request)
    billing.store.record_session(session.id, slug, request.organization_id)
    return session
