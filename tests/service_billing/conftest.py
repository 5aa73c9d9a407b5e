"""The service with Stripe billing on: fake engine, SQLite queue, Stripe events signed like Stripe signs them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from billing.adapter.runtime import BillingRuntime, billing_runtime
from billing.stripe_api import SubscriptionSource
from components.environment import load_environment
from provisioning.fleet_db import FleetDatabase
from provisioning.toolchain import PROJECT_DIR
from service.api.app import create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import open_queue
from service.settings import load_settings
from tests.billing.conftest import MOCK_PRICE, WEBHOOK_SECRET, FakeStripe, event, session_id, sign
from tests.service.conftest import service_env
from tests.service.fakes import FakeEngine
from tests.service.harness import RunningService, ServerThread

PRICES = {"price_starter": {"plan": "starter"}, "price_business": {"plan": "business"}, MOCK_PRICE: {"plan": "starter"}}
GRACE = 3600
CHECKOUT = {"success_url": "https://cloud.example/billing/done", "cancel_url": "https://cloud.example/billing"}


class BilledService(RunningService):
    """The running service plus its billing runtime and a way to deliver Stripe events."""

    billing: BillingRuntime
    audit: FleetDatabase

    def deliver(self, evt: dict[str, Any], secret: str = WEBHOOK_SECRET) -> requests.Response:
        """POST ``evt`` to the webhook signed with ``secret`` via the stripe library's scheme."""
        body, header = sign(evt, secret)
        return requests.post(
            f"{self.base_url}/v1/stripe/webhook",
            data=body,
            timeout=10,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )

    def declared(self, slug: str) -> dict[str, Any]:
        """The tenant's declaration as the queue holds it (what the next run applies)."""
        data: dict[str, Any] = yaml.safe_load(self.queue.get_tenant(slug).declaration)
        return data

    def jobs(self, slug: str) -> list[tuple[str, str]]:
        """(kind, state) of the tenant's jobs, oldest first."""
        return [(j.kind, j.state) for j in reversed(self.queue.list_jobs(slug=slug))]


def start_billed(
    tmp_path: Path, source: SubscriptionSource | None, extra: dict[str, str] | None = None
) -> tuple[BilledService, ServerThread]:
    """The API on a free port with billing wired to ``source`` (workers are started by the test).

    The service has created acme's checkout session (``cs_acme``), as ``POST /v1/tenants/acme/checkout-session`` would.
    """
    (tmp_path / "billing.yaml").write_text(
        yaml.safe_dump({"prices": PRICES, "grace_seconds": GRACE, "checkout": CHECKOUT})
    )
    env = {
        **service_env(tmp_path, f"sqlite://{tmp_path / 'queue.sqlite'}"),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SERVICE_BILLING_CONFIG": str(tmp_path / "billing.yaml"),
        "SERVICE_BILLING_DB": str(tmp_path / "billing.sqlite"),
        **(extra or {}),
    }
    settings = load_settings(env)
    queue = open_queue(settings.database_url)
    environment = load_environment(PROJECT_DIR, settings.env_name)
    billing = billing_runtime(settings, queue, environment, source)
    metrics = Metrics(queue)
    audit = FleetDatabase(tmp_path / "fleet.sqlite", settings.env_name)
    ctx = ServiceContext(settings, queue, environment, metrics, billing=billing, audit=audit)
    server = ServerThread(create_app(ctx))
    running = BilledService(
        settings, queue, FakeEngine(tmp_path / "engine", env_name=settings.env_name), server.start(), metrics
    )
    assert billing is not None
    billing.store.record_session(session_id("acme"), "acme")
    running.billing = billing
    running.audit = audit
    return running, server


@pytest.fixture
def fake_stripe() -> FakeStripe:
    """Subscriptions as Stripe has them now (set by each test)."""
    return FakeStripe()


@pytest.fixture
def billed(tmp_path: Path, fake_stripe: FakeStripe) -> Iterator[BilledService]:
    """The billed service whose subscription lookups read ``fake_stripe``."""
    running, server = start_billed(tmp_path, fake_stripe)
    yield running
    running.stop_workers()
    server.stop()


def now() -> int:
    """Event timestamps are real time: the grace period counts from them."""
    return int(time.time())


def stripe_event(event_id: str, etype: str, obj: dict[str, Any], created: int | None = None) -> dict[str, Any]:
    """A Stripe event envelope created now (or at ``created``)."""
    return event(event_id, etype, json.loads(json.dumps(obj)), now() if created is None else created)
