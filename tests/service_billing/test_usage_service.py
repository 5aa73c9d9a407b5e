"""``python -m service`` runs the VM-hours report on its own and shows its last success in /metrics (stripe-mock)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from billing.adapter.store import BillingStore
from billing.config import config_from_mapping
from billing.model import CHECKOUT_COMPLETED, BillingEvent
from billing.usage import HOUR
from service.queue import open_queue
from service.queue import usage as ledger
from tests.billing.conftest import API_KEY, WEBHOOK_SECRET
from tests.service.conftest import service_env
from tests.service.harness import wait_for
from tests.service.pg import free_port
from tests.service_billing.conftest import CHECKOUT, PRICES

ROOT = Path(__file__).resolve().parents[2]


def _metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_the_service_reports_closed_hours_by_itself(tmp_path: Path, stripe_mock: str) -> None:
    url = f"sqlite://{tmp_path / 'queue.sqlite'}"
    queue = open_queue(url)
    hour = int(time.time()) // HOUR * HOUR
    with queue.transaction(write=True) as tx:  # type: ignore[attr-defined]
        ledger.record_change(tx, "job-1", "acme", hour - 3 * HOUR + 120, "starter", 1)  # ready 3 hours ago
    (tmp_path / "billing.yaml").write_text(yaml.safe_dump({"prices": PRICES, "checkout": CHECKOUT}))
    store = BillingStore(tmp_path / "billing.sqlite", config_from_mapping({"prices": PRICES}))
    store.record_session("cs_acme", "acme")
    store.process(
        BillingEvent(
            "evt_1",
            CHECKOUT_COMPLETED,
            hour - 3 * HOUR,
            customer="cus_acme",
            session_id="cs_acme",
            subscription_id="sub_1",
        )
    )
    assert store.state("acme").customer == "cus_acme"
    port = free_port()
    env = {
        **os.environ,
        **service_env(tmp_path, url),
        "SERVICE_PORT": str(port),
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_mock,
        "SERVICE_BILLING_CONFIG": str(tmp_path / "billing.yaml"),
        "SERVICE_BILLING_DB": str(tmp_path / "billing.sqlite"),
        "SERVICE_USAGE_POLL_SECONDS": "0.2",
    }
    started = time.time()
    with open(tmp_path / "service.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "--api-only"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:

        def scraped() -> str | None:
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.ConnectionError:
                return None
            last = _metric(text, "service_usage_last_success_timestamp_seconds")
            return text if last is not None and last >= started else None

        text = wait_for(scraped, 60, "/metrics to show a usage report after the service started")
        assert _metric(text, 'service_usage_reports_total{result="sent"}') == 3.0
        assert _metric(text, 'service_usage_vm_hours_total{plan="starter"}') == 3.0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with queue.transaction() as tx:  # type: ignore[attr-defined]
        assert ledger.reports(tx) == [("acme", "starter", hour - i * HOUR, 1, "cus_acme") for i in (3, 2, 1)]
    assert API_KEY not in (tmp_path / "service.log").read_text()
