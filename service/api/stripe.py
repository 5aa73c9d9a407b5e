"""``POST /v1/stripe/webhook``: Stripe-signed billing events in, billing actions out.

Forged, stale-signed or malformed deliveries → 400 (nothing recorded); Stripe unreachable while
fetching the event's subscription → 503 (Stripe redelivers later); billing not configured → 404.
"""
from __future__ import annotations

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from billing.stripe_api import StripeUnavailable
from billing.webhooks import WebhookRejected
from service.api.context import context
from service.api.signups import read_limited
from service.billing_service import result_body

SIGNATURE_HEADER = "stripe-signature"
MAX_EVENT_BYTES = 256 * 1024  # Stripe events are small; a subscription with many items stays far below this


async def stripe_webhook(request: Request) -> JSONResponse:
    """Verify the signature with STRIPE_WEBHOOK_SECRET, record the event once, execute its actions."""
    billing = context(request).billing
    if billing is None:
        raise HTTPException(404, "billing is not configured (STRIPE_WEBHOOK_SECRET unset)")
    body = await read_limited(request, MAX_EVENT_BYTES)
    try:
        result = await run_in_threadpool(billing.receive, body, request.headers.get(SIGNATURE_HEADER))
    except WebhookRejected as exc:
        raise HTTPException(400, f"Webhook Error: {exc}") from None
    except StripeUnavailable:
        raise HTTPException(503, "Stripe is unavailable; the event was not processed, retry later") from None
    return JSONResponse(result_body(result))
