"""The one place that talks to the Stripe API: a configured client and the current-subscription lookup.

Timeouts and bounded retries come from the stripe library (``max_network_retries``: exponential
backoff 0.5 s → 5 s with jitter, an automatic Idempotency-Key on retried POSTs). The API key is taken
from its ``SecretStr`` only when the client is built and never logged.
"""

from __future__ import annotations

from typing import Protocol

import stripe

from billing.config import StripeSettings
from billing.model import Subscription, parse_subscription


class StripeUnavailable(RuntimeError):
    """Stripe could not be reached or refused the call; safe to retry later (the message has no secrets)."""


def stripe_client(settings: StripeSettings) -> stripe.StripeClient:
    """A ``StripeClient`` with our timeout and retry bounds, pointed at ``settings.api_base`` if set."""
    return stripe.StripeClient(
        settings.api_key.get_secret_value(),
        base_addresses={"api": settings.api_base} if settings.api_base else None,
        max_network_retries=settings.max_retries,
        http_client=stripe.RequestsClient(timeout=settings.timeout_seconds),
    )


class SubscriptionSource(Protocol):
    """Where the webhook handler gets a subscription's current state before acting on an event."""

    def current(self, subscription_id: str) -> Subscription: ...


class StripeSubscriptions:
    """:class:`SubscriptionSource` backed by ``GET /v1/subscriptions/{id}``."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client

    def current(self, subscription_id: str) -> Subscription:
        """The subscription as Stripe has it now."""
        try:
            obj = self._client.v1.subscriptions.retrieve(subscription_id)
        except stripe.StripeError as exc:
            raise StripeUnavailable(
                f"retrieving subscription {subscription_id} failed: {type(exc).__name__} (HTTP {exc.http_status})"
            ) from None
        return parse_subscription(obj.to_dict())
