"""Stripe webhook intake: verify the signature, normalise the event, refresh its subscription.

Forged or stale-signed bodies are rejected before anything is read from them. With a
:class:`~billing.stripe_api.SubscriptionSource`, the subscription an event is about is fetched from
Stripe and decisions use that current truth (``fresh``), so delivery order does not matter. Recording
each event exactly once and deciding on it is :class:`billing.adapter.webhooks.WebhookHandler`'s job.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import stripe
from pydantic import SecretStr

from billing.model import HANDLED, BillingEvent, parse_event
from billing.stripe_api import SubscriptionSource

TOLERANCE_SECONDS = 300


class WebhookRejected(ValueError):
    """The request is not a genuine Stripe event (answer 400); the message reveals nothing secret."""


def verify(
    payload: bytes, sig_header: str | None, secret: SecretStr, tolerance: int = TOLERANCE_SECONDS
) -> dict[str, Any]:
    """The event dict if ``sig_header`` is a valid Stripe signature of ``payload`` under ``secret``."""
    try:
        stripe.Webhook.construct_event(payload.decode("utf-8"), sig_header, secret.get_secret_value(), tolerance)
    except stripe.SignatureVerificationError:
        raise WebhookRejected("invalid Stripe-Signature") from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("body is not a JSON Stripe event") from None
    event: dict[str, Any] = json.loads(payload)
    return event


def read_event(
    payload: bytes, sig_header: str | None, secret: SecretStr, tolerance: int = TOLERANCE_SECONDS
) -> BillingEvent:
    """The verified delivery as a :class:`~billing.model.BillingEvent` (raises :class:`WebhookRejected`)."""
    return parse_event(verify(payload, sig_header, secret, tolerance))


def handled(event: BillingEvent) -> bool:
    """Whether decisions act on events of this type (others are acknowledged and ignored)."""
    return event.type in HANDLED


def with_current_subscription(event: BillingEvent, source: SubscriptionSource | None) -> BillingEvent:
    """``event`` with its subscription as Stripe has it now (``fresh``), when a source is given."""
    if source is None or not event.subscription_id:
        return event
    return replace(event, subscription=source.current(event.subscription_id), fresh=True)
