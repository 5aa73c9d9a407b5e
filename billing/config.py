"""Billing configuration: which Stripe prices mean which plan, grace period, and secrets from env.

Secrets (``STRIPE_API_KEY``, ``STRIPE_WEBHOOK_SECRET``) are read from the environment only, by the
one settings reader (:class:`provisioning.secrets.EnvironmentSettings`), and held as ``SecretStr``,
whose ``repr``/``str`` are masked, so they never reach logs, errors or reprs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, SecretStr, ValidationError

from provisioning.secrets import EnvironmentSettings, settings_problems


@dataclass(frozen=True)
class PriceRule:
    """What one subscription item buys: servers on ``plan``.

    ``servers`` set: the item always counts that many (Dokploy's Startup base price counts 3);
    unset: the item's ``quantity`` is the number of servers.
    """

    plan: str
    servers: int | None = None


@dataclass(frozen=True)
class BillingConfig:
    """Price mapping and policy knobs; keys of ``prices`` are price ids or price lookup keys."""

    prices: Mapping[str, PriceRule]
    grace_seconds: int = 3 * 24 * 3600
    """How long after a failed payment the tenant is suspended (unless payment recovers first)."""
    active_statuses: frozenset[str] = field(default_factory=lambda: frozenset({"active", "trialing"}))
    """Subscription statuses that entitle the tenant to run servers."""
    ended_statuses: frozenset[str] = field(default_factory=lambda: frozenset({"canceled", "incomplete_expired"}))
    """Subscription statuses after which the tenant is decommissioned."""
    success_url: str | None = None
    """Where Stripe Checkout sends the customer after paying (needed to create checkout sessions)."""
    cancel_url: str | None = None
    """Where Stripe Checkout sends the customer who gives up."""

    def rule_for(self, price_id: str | None, lookup_key: str | None) -> PriceRule | None:
        """The rule for a price, by id first, then by lookup key."""
        for key in (price_id, lookup_key):
            if key and key in self.prices:
                return self.prices[key]
        return None


def config_from_mapping(data: Mapping[str, Any]) -> BillingConfig:
    """Build from config data: ``{prices: {<price id|lookup key>: {plan, servers?}}, grace_seconds?,
    checkout?: {success_url, cancel_url}}``."""
    prices = data.get("prices")
    if not isinstance(prices, Mapping) or not prices:
        raise ValueError(
            "billing config: 'prices' must be a non-empty mapping of price id/lookup key to {plan, servers?}"
        )
    rules = {}
    for key, rule in prices.items():
        if not isinstance(rule, Mapping) or not isinstance(rule.get("plan"), str):
            raise ValueError(f"billing config: prices.{key}.plan must be a plan name")
        servers = rule.get("servers")
        if servers is not None and (not isinstance(servers, int) or servers < 0):
            raise ValueError(f"billing config: prices.{key}.servers must be a non-negative integer")
        rules[str(key)] = PriceRule(rule["plan"], servers)
    grace = data.get("grace_seconds", BillingConfig.grace_seconds)
    if not isinstance(grace, int) or grace < 0:
        raise ValueError("billing config: grace_seconds must be a non-negative integer")
    checkout = data.get("checkout") or {}
    if not isinstance(checkout, Mapping):
        raise ValueError("billing config: checkout must be a mapping {success_url, cancel_url}")
    urls: dict[str, str | None] = {}
    for key in ("success_url", "cancel_url"):
        url = checkout.get(key)
        if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
            raise ValueError(f"billing config: checkout.{key} must be an http(s) URL")
        urls[key] = url
    return BillingConfig(
        prices=rules, grace_seconds=grace, success_url=urls["success_url"], cancel_url=urls["cancel_url"]
    )


class StripeSettings(EnvironmentSettings):
    """Connection settings for Stripe, read once from the environment."""

    api_key: SecretStr = Field(validation_alias="STRIPE_API_KEY")
    webhook_secret: SecretStr = Field(validation_alias="STRIPE_WEBHOOK_SECRET")
    api_base: str | None = Field(default=None, validation_alias="STRIPE_API_BASE")
    """``STRIPE_API_BASE``, e.g. stripe-mock's ``http://127.0.0.1:<port>``; unset means api.stripe.com."""
    timeout_seconds: float = Field(default=10.0, gt=0, validation_alias="STRIPE_TIMEOUT")
    max_retries: int = Field(default=2, ge=0, validation_alias="STRIPE_MAX_RETRIES")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StripeSettings:
        """Read ``STRIPE_API_KEY``, ``STRIPE_WEBHOOK_SECRET``, ``STRIPE_API_BASE``, ``STRIPE_TIMEOUT`` and
        ``STRIPE_MAX_RETRIES``."""
        try:
            return cls.from_environ(env)
        except ValidationError as exc:
            raise ValueError(settings_problems(exc, cls)) from None
