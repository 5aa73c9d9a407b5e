"""Billing endpoints: the Stripe webhook, and the checkout sessions the service creates for its tenants.

``POST /v1/stripe/webhook``: forged, stale-signed or malformed deliveries → 400 (nothing recorded);
Stripe unreachable while fetching the event's subscription → 503 (Stripe redelivers later); billing
not configured → 404.

``POST /v1/tenants/{slug}/checkout-session``: the operator's bearer token, or the signup sender's
``X-Signature`` over the body; answers the session's id and URL.
"""

from __future__ import annotations

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from billing.adapter.checkout import CheckoutRefused, open_checkout, parse_body
from billing.adapter.runtime import result_body
from billing.stripe_api import StripeUnavailable
from billing.webhooks import WebhookRejected
from service.api.context import context
from service.api.operator import require_operator
from service.api.signups import read_limited
from service.signing import HEADER, SignatureError, verify_signature

SIGNATURE_HEADER = "stripe-signature"
MAX_EVENT_BYTES = 256 * 1024  # Stripe events are small; a subscription with many items stays far below this


async def stripe_webhook(request: Request) -> JSONResponse:
    """Verify the signature with STRIPE_WEBHOOK_SECRET, record the event once, execute its actions."""
    billing = context(request).billing
    if billing is None:
        raise HTTPException(404, "billing is not configured (STRIPE_WEBHOOK_SECRET unset)")
    body = await read_limited(request, MAX_EVENT_BYTES)
    outcomes = context(request).metrics.stripe_webhooks
    try:
        result = await run_in_threadpool(billing.receive, body, request.headers.get(SIGNATURE_HEADER))
    except WebhookRejected as exc:
        outcomes.labels("rejected").inc()
        raise HTTPException(400, f"Webhook Error: {exc}") from None
    except StripeUnavailable:
        outcomes.labels("failed").inc()
        raise HTTPException(503, "Stripe is unavailable; the event was not processed, retry later") from None
    except Exception:
        outcomes.labels("failed").inc()
        raise
    body_out = result_body(result)
    outcomes.labels("duplicate" if result.duplicate else "applied" if body_out["actions"] else "ignored").inc()
    return JSONResponse(body_out)


async def create_checkout_session(slug: str, request: Request) -> JSONResponse:
    """A Stripe Checkout Session for a known tenant or held signup; 201 with its id and URL."""
    ctx = context(request)
    body = await read_limited(request, ctx.settings.max_body_bytes)
    if request.headers.get("authorization"):
        require_operator(request)
    else:
        try:
            verify_signature(ctx.settings.hmac_secret, request.headers.get(HEADER), body, ctx.settings.signature_window)
        except SignatureError as exc:
            raise HTTPException(401, f"operator bearer token or {HEADER} required: {exc}") from None
    if ctx.billing is None:
        raise HTTPException(404, "billing is not configured (STRIPE_WEBHOOK_SECRET unset)")
    try:
        session = await run_in_threadpool(open_checkout, ctx.billing, slug, parse_body(body))
    except CheckoutRefused as exc:
        raise HTTPException(exc.status, exc.detail) from None
    except StripeUnavailable:
        raise HTTPException(503, "Stripe is unavailable; no checkout session was created, retry later") from None
    return JSONResponse({"tenant": slug, "session_id": session.id, "url": session.url}, status_code=201)
