"""Everything the soak runs, started on free ports, and the handles the fault schedule pulls.

The cloud (simulators + PowerDNS) and the state backend come from the end-to-end harness; the queue is a real
PostgreSQL cluster; the API (with Stripe billing) is served from this process; the workers are real
``python -m service --workers-only`` processes. Billing looks subscriptions up in :class:`StripeAccount`, which
plays Stripe's side: the soak changes a subscription there before it delivers the event that announces it,
as Stripe does (stripe-mock cannot: it answers every lookup with the same fixture).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import stripe
import yaml

from billing.adapter.runtime import BillingRuntime, billing_runtime
from billing.model import Subscription, parse_subscription
from provisioning.stacks import TenantStacks
from provisioning.tenant_backups import TenantBackups
from service.api.app import create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import open_queue
from service.settings import load_settings
from tests.service.conftest import service_env
from tests.service.harness import ServerThread
from tests.service.pg import Cluster
from tests.service_e2e.harness import SERVICE_ENV, EngineCloud, EngineService, WorkerProcess, start_cloud

log = logging.getLogger(__name__)
WEBHOOK_SECRET = "whsec_soak_" + uuid.uuid4().hex
PRICES = {"price_starter": "starter", "price_business": "business", "price_enterprise": "enterprise"}
GRACE_SECONDS = 5
"""Grace between a failed payment and the suspension (days in production; seconds here, so it happens)."""
HTTP_TIMEOUT = 20


class StripeAccount:
    """Stripe's side of the subscriptions (what a lookup of ``sub_...`` returns now)."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def set(self, sub: dict[str, Any]) -> None:
        with self._lock:
            self.subscriptions[sub["id"]] = json.loads(json.dumps(sub))

    def current(self, subscription_id: str) -> Subscription:
        with self._lock:
            return parse_subscription(self.subscriptions[subscription_id])


@dataclass
class Rig:
    """The running system and its fault handles."""

    root: Path
    cloud: EngineCloud
    pg: Cluster
    service: EngineService
    billing: BillingRuntime
    stripe: StripeAccount
    workers: list[WorkerProcess] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, root: Path, worker_processes: int = 2, concurrency: int = 2) -> Rig:
        (root / "cloud").mkdir(parents=True, exist_ok=True)
        (root / "git-tenants").mkdir(exist_ok=True)  # the operator's git declarations: none in the soak
        pg = Cluster()
        pg.start()
        try:
            cloud = start_cloud(root / "cloud", node_mem_gib=1024)
        except BaseException:
            pg.stop()
            raise
        try:
            database = pg.create_database("soak")
            # workers on several hosts share the queue's database for allocations too (the service insists)
            cloud.env["ALLOCATIONS_DB"] = database
            cloud.patch.setenv("ALLOCATIONS_DB", database)
            (root / "billing.yaml").write_text(
                yaml.safe_dump(
                    {"prices": {p: {"plan": plan} for p, plan in PRICES.items()}, "grace_seconds": GRACE_SECONDS}
                )
            )
            env = {
                **service_env(root, database),
                **SERVICE_ENV,
                "SERVICE_MAX_ATTEMPTS": "8",
                "SERVICE_BILLING_POLL_SECONDS": "1",
                "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "SERVICE_BILLING_CONFIG": str(root / "billing.yaml"),
                "SERVICE_BILLING_DB": str(root / "billing.sqlite"),
            }
            settings = load_settings(env)
            queue = open_queue(settings.database_url)
            account = StripeAccount()
            billing = billing_runtime(settings, queue, cloud.environment, account)
            assert billing is not None
            backups = TenantBackups(TenantStacks(settings.env_name))
            context = ServiceContext(
                settings, queue, cloud.environment, Metrics(queue), billing=billing, backups=backups
            )
            server = ServerThread(create_app(context))
            service = EngineService(cloud, settings, env, queue, server, server.start(), root)
        except BaseException:
            pg.stop()
            cloud.stop()
            raise
        rig = cls(root, cloud, pg, service, billing, account)
        billing.start(rig._stop)
        for n in range(worker_processes):
            rig.workers.append(service.start_worker_process(f"worker{n}", concurrency=concurrency))
        for worker in rig.workers:
            worker.wait_started()
        return rig

    # --- what the traffic sends ------------------------------------------------------------------------------
    def deliver(self, event: dict[str, Any]) -> requests.Response:
        """POST a Stripe event to the webhook, signed as Stripe signs it."""
        body = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
        return requests.post(
            f"{self.service.base_url}/v1/stripe/webhook",
            data=body.encode(),
            timeout=HTTP_TIMEOUT,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )

    def bind_checkout(self, session_id: str, slug: str) -> None:
        """What ``POST /v1/tenants/{slug}/checkout-session`` records when Stripe created the session."""
        self.billing.store.record_session(session_id, slug)

    # --- fault handles -----------------------------------------------------------------------------------------
    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` and everything it started (a lost machine)."""
        self.workers[index].kill()

    def restart_worker(self, index: int) -> None:
        old = self.workers[index]
        self.workers[index] = self.service.start_worker_process(f"{old.name}-r{int(time.time())}", concurrency=2)

    def stop_dns(self) -> None:
        """PowerDNS dies (SIGKILL); its zone data stays on disk."""
        assert self.cloud.cloud.pdns is not None
        self.cloud.cloud.pdns.crash()

    def start_dns(self) -> None:
        assert self.cloud.cloud.pdns is not None
        self.cloud.cloud.pdns.start()

    def stop_database(self) -> None:
        """PostgreSQL stops as a crash would (``pg_ctl -m immediate``)."""
        self.pg.halt()

    def start_database(self) -> None:
        self.pg.resume()

    def stop(self) -> None:
        self._stop.set()
        try:
            self.service.stop()
        finally:
            try:
                self.pg.stop()
            finally:
                self.cloud.stop()
