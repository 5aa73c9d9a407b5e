"""The soak's work: tenants signing up, paying, changing plans, failing and recovering payments, leaving.

Each tenant is a small model of what billing says it should be (:class:`SoakTenant`); every action changes
the model and sends what a real client would: a signed signup to ``POST /v1/signups``, a Stripe event to the
webhook (after setting the subscription on :class:`~scripts.soak.rig.StripeAccount`, as Stripe would have it),
an operator's ``POST /v1/tenants/{slug}/reapply``. Requests that fail (the database is down, the API answers
5xx) are sent again with backoff, as Stripe redelivers webhooks and a signup sender retries; a request is
never assumed to have worked.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from scripts.soak.rig import PRICES, Rig
from tests.service.harness import signup_body

log = logging.getLogger(__name__)
PRICE_OF = {plan: price for price, plan in PRICES.items()}
PLAN_ORDER = ("starter", "business", "enterprise")
"""Plans by disk size: the soak's plan changes go up; from the top they try to go down (refused)."""
SEND_ATTEMPTS = 12


@dataclass
class SoakTenant:
    """What billing and the operators said about one tenant; the invariants compare the cloud with it."""

    slug: str
    region: str
    plan: str = "starter"
    paid: bool = False
    payment_failed: bool = False
    decommissioned: bool = False
    events: int = 0

    @property
    def org(self) -> str:
        return f"org_{self.slug}"[:64]

    @property
    def subscription(self) -> str:
        return f"sub_{self.slug}"

    @property
    def customer(self) -> str:
        return f"cus_{self.slug}"

    @property
    def expected_state(self) -> str:
        """What billing says once every grace period has passed."""
        return "suspended" if self.payment_failed else "active"


@dataclass
class Traffic:
    """Chooses and sends actions (seeded); counts what it sent."""

    rig: Rig
    rng: random.Random
    max_live: int = 10
    tenants: dict[str, SoakTenant] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)
    resent: Counter[str] = field(default_factory=Counter)
    unsent: list[str] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)

    def live(self) -> list[SoakTenant]:
        return [t for t in self.tenants.values() if not t.decommissioned]

    def step(self) -> str:
        """Do one action, chosen by weight among those that make sense now; its name."""
        live = self.live()
        paid = [t for t in live if t.paid]
        choices: list[tuple[float, str, Callable[[], None]]] = []
        if len(live) < self.max_live:
            choices.append((4.0, "signup", self.signup))
        healthy = [t for t in paid if not t.payment_failed]
        if healthy:
            choices.append((2.0, "plan change", lambda: self.change_plan(self.rng.choice(healthy))))
        if healthy:
            choices.append((1.5, "payment failed", lambda: self.payment_failed(self.rng.choice(healthy))))
        failing = [t for t in paid if t.payment_failed]
        if failing:
            choices.append((1.5, "payment recovered", lambda: self.payment_recovered(self.rng.choice(failing))))
        if len(paid) > 2:
            choices.append((1.0, "cancellation", lambda: self.cancel(self.rng.choice(paid))))
        if live:
            choices.append((1.0, "operator reapply", lambda: self.reapply(self.rng.choice(live))))
        weights = [w for w, _, _ in choices]
        _, name, action = self.rng.choices(choices, weights=weights)[0]
        action()
        log.info("traffic: %s", name)
        return name

    # --- actions -------------------------------------------------------------------------------------------
    def signup(self) -> None:
        """A new tenant signs up (its Dokploy organization exists, as Dokploy Cloud's signup leaves it), then
        pays for starter through the checkout the service opened."""
        slug = f"soak{uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]}"
        region = self.rng.choice(sorted(self.rig.cloud.environment.regions))
        body = signup_body(slug, region=region)
        self.rig.cloud.add_organization(body)
        tenant = SoakTenant(slug, region)
        self.tenants[slug] = tenant
        log.info("traffic: signup of %s in %s", slug, region)
        answer = self._send("signup", lambda: self.rig.service.signup(body))
        if answer is not None:
            self.job_ids.append(str(answer.json()["job_id"]))
        self.rig.bind_checkout(f"cs_{slug}", slug)
        self._set_subscription(tenant, "active")
        checkout = {
            "id": f"cs_{slug}",
            "object": "checkout.session",
            "customer": tenant.customer,
            "subscription": tenant.subscription,
            "mode": "subscription",
            "client_reference_id": slug,
            "metadata": {"tenant": slug},
            "payment_status": "paid",
        }
        if self._event(tenant, "checkout.session.completed", checkout):
            tenant.paid = True

    def change_plan(self, tenant: SoakTenant) -> None:
        """Up to the next plan; from the top plan, down to a smaller one, which the service refuses (a disk
        cannot shrink), so the tenant keeps its plan."""
        order = PLAN_ORDER.index(tenant.plan)
        target = PLAN_ORDER[order + 1] if order + 1 < len(PLAN_ORDER) else self.rng.choice(PLAN_ORDER[:order])
        sub = self._set_subscription(tenant, "active", target)
        self._event(tenant, "customer.subscription.updated", sub)
        if PLAN_ORDER.index(target) > order:
            tenant.plan = target

    def payment_failed(self, tenant: SoakTenant) -> None:
        tenant.payment_failed = True
        self._set_subscription(tenant, "past_due")
        self._event(tenant, "invoice.payment_failed", self._invoice(tenant))

    def payment_recovered(self, tenant: SoakTenant) -> None:
        tenant.payment_failed = False
        self._set_subscription(tenant, "active")
        self._event(tenant, "invoice.payment_succeeded", self._invoice(tenant))

    def cancel(self, tenant: SoakTenant) -> None:
        tenant.decommissioned = True
        sub = self._set_subscription(tenant, "canceled")
        self._event(tenant, "customer.subscription.deleted", sub)

    def reapply(self, tenant: SoakTenant) -> None:
        answer = self._send(
            "operator reapply", lambda: self.rig.service.op("POST", f"/v1/tenants/{tenant.slug}/reapply")
        )
        if answer is not None and answer.status_code == 202:
            self.job_ids.append(str(answer.json()["job_id"]))

    # --- sending -------------------------------------------------------------------------------------------
    def _set_subscription(self, tenant: SoakTenant, status: str, plan: str | None = None) -> dict[str, Any]:
        sub = {
            "id": tenant.subscription,
            "object": "subscription",
            "status": status,
            "created": int(time.time()) - 60,
            "customer": tenant.customer,
            "metadata": {"tenant": tenant.slug},
            "items": {
                "object": "list",
                "data": [
                    {"id": "si_0", "quantity": 1, "price": {"id": PRICE_OF[plan or tenant.plan], "lookup_key": None}}
                ],
            },
        }
        self.rig.stripe.set(sub)
        return sub

    def _invoice(self, tenant: SoakTenant) -> dict[str, Any]:
        return {
            "id": f"in_{uuid.UUID(int=self.rng.getrandbits(128)).hex[:12]}",
            "object": "invoice",
            "customer": tenant.customer,
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": tenant.subscription, "metadata": {}},
            },
        }

    def _event(self, tenant: SoakTenant, etype: str, obj: dict[str, Any]) -> bool:
        tenant.events += 1
        log.info("traffic: %s for %s (plan %s)", etype, tenant.slug, tenant.plan)
        event = {
            "id": f"evt_{tenant.slug}_{tenant.events}",
            "object": "event",
            "type": etype,
            "created": int(time.time()),
            "api_version": "2025-09-30",
            "data": {"object": obj},
            "livemode": False,
        }
        return self._send(etype, lambda: self.rig.deliver(event)) is not None

    def _send(self, what: str, send: Callable[[], requests.Response]) -> requests.Response | None:
        """Send until the service accepts (2xx), backing off on errors and 5xx; None if it never did."""
        self.sent[what] += 1
        delay = 0.5
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self.resent[what] += 1
            try:
                answer = send()
                if answer.status_code < 500:
                    if answer.status_code >= 400:
                        log.warning("%s refused: %s %s", what, answer.status_code, answer.text[:300])
                    return answer if answer.status_code < 300 else None
            except requests.RequestException as exc:
                log.info("%s: %s; sent again", what, type(exc).__name__)
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
        self.unsent.append(what)
        return None
