"""Stripe webhook intake: verify the signature, normalise, refresh the subscription, decide exactly once.

Forged or stale-signed bodies are rejected before anything is read from them. When a
:class:`~billing.stripe_api.SubscriptionSource` is given, the subscription an event is about is
fetched from Stripe and decisions use that current truth (``fresh``), so delivery order does not matter.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any, Optional

import stripe

from pydantic import SecretStr

from billing.model import HANDLED, parse_event
from billing.adapter.store import BillingStore, ProcessResult
from billing.stripe_api import SubscriptionSource

log = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300


class WebhookRejected(ValueError):
    """The request is not a genuine Stripe event (answer 400); the message reveals nothing secret."""


def verify(payload: bytes, sig_header: Optional[str], secret: SecretStr, tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """The event dict if ``sig_header`` is a valid Stripe signature of ``payload`` under ``secret``."""
    try:
        stripe.Webhook.construct_event(payload.decode("utf-8"), sig_header, secret.get_secret_value(), tolerance)
    except stripe.SignatureVerificationError:
        raise WebhookRejected("invalid Stripe-Signature") from None
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("body is not a JSON Stripe event") from None
    event: dict[str, Any] = json.loads(payload)
    return event


class WebhookHandler:
    """Verifies and processes webhook deliveries into a :class:`BillingStore`."""

    def __init__(self, store: BillingStore, secret: SecretStr, source: Optional[SubscriptionSource] = None,
                 tolerance: int = TOLERANCE_SECONDS) -> None:
        self.store, self._secret, self.source, self.tolerance = store, secret, source, tolerance

    def handle(self, payload: bytes, sig_header: Optional[str]) -> ProcessResult:
        """Process one delivery; raises :class:`WebhookRejected` or ``StripeUnavailable`` (then Stripe redelivers)."""
        raw = verify(payload, sig_header, self._secret, self.tolerance)
        event = parse_event(raw)
        if event.type not in HANDLED:
            return ProcessResult(False, note=f"ignored: event type {event.type} is not handled")
        if self.store.seen(event.id):
            return ProcessResult(True, note="duplicate event")
        if self.source is not None and event.subscription_id:
            event = replace(event, subscription=self.source.current(event.subscription_id), fresh=True)
        result = self.store.process(event)
        log.info("stripe event %s (%s): %s", event.id, event.type, result.note)
        return result
