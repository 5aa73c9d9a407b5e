"""Billing in the service process: webhook intake, the action outbox and the suspension timers, wired together.

``BillingRuntime.receive`` verifies and records a delivery (exactly once per event id) and then
executes what it decided; ``tick`` executes queued actions and due suspensions, and ``start`` runs
``tick`` every ``billing_poll_seconds`` in a thread (the API process starts it with the app).
Secrets come only from :class:`service.settings.Settings` (environment) and are never logged.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from billing.adapter.sink import QueueActionSink
from billing.adapter.store import BillingStore, ProcessResult, SuspensionTimers
from billing.adapter.webhooks import WebhookHandler
from billing.checkout import CheckoutSessions
from billing.config import BillingConfig, StripeSettings, config_from_mapping
from billing.decide import Provision
from billing.states import TenantState
from billing.stripe_api import StripeSubscriptions, SubscriptionSource, stripe_client
from components.environment import Environment
from service.queue import JobQueue
from service.settings import Settings, SettingsError

log = logging.getLogger(__name__)


@dataclass
class BillingRuntime:
    """Webhook handler, store and sink of one service process."""

    handler: WebhookHandler
    store: BillingStore
    sink: QueueActionSink
    poll_seconds: float = 5.0
    sessions: CheckoutSessions | None = None
    """Creates Stripe Checkout Sessions; None without STRIPE_API_KEY and the config's checkout URLs."""

    def receive(self, payload: bytes, signature: str | None) -> ProcessResult:
        """Verify and record one delivery, then run what is due (raises WebhookRejected / StripeUnavailable)."""
        result = self.handler.handle(payload, signature)
        self.tick()
        return result

    def release_if_paid(self, slug: str) -> bool:
        """Release ``slug``'s held signup if billing already provisioned it (payment before signup); whether it was."""
        state = self.store.state(slug)
        if state.lifecycle is not TenantState.ACTIVE or state.plan is None:
            return False
        self.sink.provision(Provision(slug, state.plan, state.servers))
        return True

    def tick(self, now: float | None = None) -> int:
        """Execute queued billing actions, then suspensions whose grace period has passed; how many ran."""
        ran = self.store.drain(self.sink)
        return ran + len(self.sink.run_due(now))

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run :meth:`tick` every ``poll_seconds`` until ``stop`` is set."""

        def loop() -> None:
            while not stop.wait(self.poll_seconds):
                try:
                    self.tick()
                except Exception as exc:  # queue or store blinked: the outbox keeps the action for the next tick
                    log.error("billing tick failed (%s)", type(exc).__name__)

        thread = threading.Thread(target=loop, name="billing-timer", daemon=True)
        thread.start()
        return thread


def load_billing_config(path: Path) -> BillingConfig:
    """The price mapping from a YAML or JSON file; errors name the file and the field."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"SERVICE_BILLING_CONFIG {path}: cannot read ({type(exc).__name__})") from None
    try:
        return config_from_mapping(data if isinstance(data, dict) else {})
    except ValueError as exc:
        raise SettingsError(f"SERVICE_BILLING_CONFIG {path}: {exc}") from None


def billing_runtime(
    settings: Settings, queue: JobQueue, environment: Environment, source: SubscriptionSource | None = None
) -> BillingRuntime | None:
    """The runtime when ``STRIPE_WEBHOOK_SECRET`` and ``SERVICE_BILLING_CONFIG`` are set, else None (billing off)."""
    if settings.stripe_webhook_secret is None:
        return None
    if settings.billing_config is None:
        raise SettingsError("STRIPE_WEBHOOK_SECRET is set but SERVICE_BILLING_CONFIG is not")
    config = load_billing_config(settings.billing_config)
    unknown = sorted({rule.plan for rule in config.prices.values()} - set(environment.plans))
    if unknown:
        raise SettingsError(f"SERVICE_BILLING_CONFIG: prices name unknown plan(s) {', '.join(unknown)}")
    sessions = None
    if settings.stripe_api_key is not None:
        client = stripe_client(
            StripeSettings(
                api_key=settings.stripe_api_key,
                webhook_secret=settings.stripe_webhook_secret,
                api_base=settings.stripe_api_base,
            )
        )
        source = source or StripeSubscriptions(client)
        if config.success_url and config.cancel_url:
            sessions = CheckoutSessions(client, config.success_url, config.cancel_url)
    settings.billing_db.parent.mkdir(parents=True, exist_ok=True)
    store = BillingStore(settings.billing_db, config)
    sink = QueueActionSink(queue, environment, SuspensionTimers(settings.billing_db), settings.max_attempts)
    handler = WebhookHandler(store, settings.stripe_webhook_secret, source)
    return BillingRuntime(handler, store, sink, settings.billing_poll_seconds, sessions)


def result_body(result: ProcessResult) -> dict[str, Any]:
    """The webhook's 200 body: received, whether it was a duplicate, and what was decided (no secrets)."""
    actions = [type(a).__name__ for a in result.decision.actions] if result.decision else []
    return {"received": True, "duplicate": result.duplicate, "note": result.note, "actions": actions}
