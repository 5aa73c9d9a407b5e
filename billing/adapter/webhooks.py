"""Webhook deliveries into the billing store: verified and normalised by :mod:`billing.webhooks`, decided once each."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from billing.adapter.store import BillingStore, ProcessResult
from billing.stripe_api import SubscriptionSource
from billing.webhooks import (
    TOLERANCE_SECONDS,
    handled,
    read_event,
    with_current_subscription,
)

log = logging.getLogger(__name__)


class WebhookHandler:
    """Verifies and processes webhook deliveries into a :class:`BillingStore`."""

    def __init__(
        self,
        store: BillingStore,
        secret: SecretStr,
        source: SubscriptionSource | None = None,
        tolerance: int = TOLERANCE_SECONDS,
    ) -> None:
        self.store, self._secret, self.source, self.tolerance = store, secret, source, tolerance

    def handle(self, payload: bytes, sig_header: str | None) -> ProcessResult:
        """Process one delivery; raises ``WebhookRejected`` or ``StripeUnavailable`` (then Stripe redelivers)."""
        event = read_event(payload, sig_header, self._secret, self.tolerance)
        if not handled(event):
            return ProcessResult(False, note=f"ignored: event type {event.type} is not handled")
        if self.store.seen(event.id):
            return ProcessResult(True, note="duplicate event")
        result = self.store.process(with_current_subscription(event, self.source))
        log.info("stripe event %s (%s): %s", event.id, event.type, result.note)
        return result
