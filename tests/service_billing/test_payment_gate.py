"""SERVICE_REQUIRE_PAYMENT: signups wait in ``awaiting-payment`` until billing's Provision releases them (fake engine).

Every test runs a worker, so "no engine effect" means a worker was there to run anything runnable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.environment import load_environment
from provisioning.toolchain import PROJECT_DIR
from service.api.app import create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import open_queue
from service.settings import SettingsError, load_settings
from tests.billing.conftest import FakeStripe, checkout, invoice, subscription
from tests.service.conftest import service_env
from tests.service.harness import signup_body
from tests.service_billing.conftest import BilledService, now, start_billed, stripe_event

BUSINESS_X3 = (("price_business", 3),)


@pytest.fixture
def gated(tmp_path: Path, fake_stripe: FakeStripe) -> Iterator[BilledService]:
    """The billed service with the payment gate on and one worker running."""
    running, server = start_billed(tmp_path, fake_stripe, {"SERVICE_REQUIRE_PAYMENT": "true"})
    running.start_workers(1)
    yield running
    running.stop_workers()
    server.stop()


def _pay(
    billed: BilledService, stripe: FakeStripe, event_id: str = "evt_checkout", tenant: str = "acme", **session: Any
) -> dict[str, Any]:
    stripe.subs["sub_1"] = subscription(created=now() - 10, items=BUSINESS_X3, tenant=tenant)
    body = {**checkout(tenant=tenant), **session}
    response = billed.deliver(stripe_event(event_id, "checkout.session.completed", body))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _held(billed: BilledService, slug: str = "acme", event_id: str | None = None) -> str:
    response = billed.signup(signup_body(slug, event_id))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["state"] == "held" and body["phase"] == "awaiting-payment", body
    return str(body["job_id"])


def _idle(billed: BilledService) -> None:
    """Give the worker several polls: anything runnable would have started."""
    time.sleep(10 * billed.settings.poll_seconds)


def test_held_signup_is_recorded_but_nothing_is_applied(gated: BilledService) -> None:
    job_id = _held(gated)
    _idle(gated)
    tenant = gated.op("GET", "/v1/tenants/acme").json()
    assert tenant["phase"] == "awaiting-payment" and tenant["last_job"] == job_id
    assert {"slug": "acme", "plan": "starter", "phase": "awaiting-payment", "last_error": None} in gated.op(
        "GET", "/v1/tenants"
    ).json()["tenants"]
    assert gated.op("GET", f"/v1/jobs/{job_id}").json()["state"] == "held"
    assert [j["id"] for j in gated.op("GET", "/v1/jobs?state=held").json()["jobs"]] == [job_id]
    assert gated.engine.effects() == []
    assert gated.signup(signup_body("acme")).json()["job_id"] == job_id  # a repeated event: the same held job
    assert gated.op("POST", "/v1/tenants/acme/reapply").status_code == 409


def test_paid_checkout_releases_the_held_signup_with_the_paid_plan(
    gated: BilledService, fake_stripe: FakeStripe
) -> None:
    job_id = _held(gated)
    assert _pay(gated, fake_stripe)["actions"] == ["Provision"]
    assert gated.wait_job(job_id)["state"] == "succeeded"
    assert gated.declared("acme")["plan"] == "business" and gated.declared("acme")["servers"] == 3
    assert gated.jobs("acme") == [("signup", "succeeded")]
    tenant = gated.op("GET", "/v1/tenants/acme").json()
    assert tenant["phase"] == "ready" and tenant["plan"] == "business"
    assert len(gated.engine.effects()) == 5


def test_the_signup_and_the_payment_that_released_it_are_in_the_audit_trail(
    gated: BilledService, fake_stripe: FakeStripe
) -> None:
    job_id = _held(gated)
    _pay(gated, fake_stripe)
    gated.wait_job(job_id)
    records = [(e.actor.split(":")[0], e.action, e.outcome, e.tenant) for e in gated.audit.chain()]
    assert records == [
        ("signup-signer", "signup.accepted", "held", "acme"),
        ("billing", "billing.release", "queued", "acme"),
    ]
    release = gated.audit.chain()[-1]
    assert "paid business x3" in release.detail and job_id in release.detail
    assert gated.audit.verify_chain().ok


def test_replayed_payment_has_one_effect(gated: BilledService, fake_stripe: FakeStripe) -> None:
    job_id = _held(gated)
    _pay(gated, fake_stripe)
    gated.wait_job(job_id)
    effects = gated.engine.effects()
    replay = _pay(gated, fake_stripe)
    assert replay["duplicate"] is True
    again = gated.deliver(stripe_event("evt_invoice", "invoice.payment_succeeded", invoice()))
    assert again.status_code == 200 and again.json()["actions"] == []
    _idle(gated)
    assert gated.jobs("acme") == [("signup", "succeeded")] and gated.engine.effects() == effects


def test_cancelling_a_held_signup_removes_it_without_engine_work(gated: BilledService) -> None:
    job_id = _held(gated)
    assert gated.op("POST", f"/v1/jobs/{job_id}/cancel").json()["state"] == "cancelled"
    assert gated.op("GET", "/v1/tenants/acme").json()["phase"] == "cancelled"
    _idle(gated)
    assert gated.engine.effects() == [] and gated.jobs("acme") == [("signup", "cancelled")]


def test_decommissioning_a_held_tenant_removes_it_without_engine_work(
    gated: BilledService, fake_stripe: FakeStripe
) -> None:
    job_id = _held(gated)
    response = gated.op("POST", "/v1/tenants/acme/decommission")
    assert response.status_code == 200, response.text
    assert response.json() == {"job_id": job_id, "duplicate": False, "state": "cancelled", "phase": "decommissioned"}
    _idle(gated)
    assert gated.engine.effects() == [] and gated.jobs("acme") == [("signup", "cancelled")]
    assert _held(gated, event_id="evt-acme-2") != job_id  # the slug can sign up again, held again


def test_checkout_the_service_did_not_create_declares_nothing(
    gated: BilledService, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    """Metadata of a foreign checkout (a payment link, another app) cannot declare a tenant in any organization."""
    meta = {"tenant": "ghost", "organization_id": "org_ghost", "contact_email": "owner@ghost.example"}
    result = _pay(gated, fake_stripe, tenant="ghost", metadata=meta, id="cs_foreign")
    assert result["actions"] == [] and result["note"].startswith("refused: tenant ghost has no Stripe customer")
    _idle(gated)
    assert gated.queue.list_tenants() == [] and gated.billing.store.pending() == []
    assert gated.billing.store.state("ghost").lifecycle is None and "refused" in caplog.text


def test_dokploy_checkout_with_only_an_admin_id_is_dropped(gated: BilledService, fake_stripe: FakeStripe) -> None:
    """Dokploy Cloud's checkout carries metadata.adminId only (CONTRACT §8): it names no tenant of ours."""
    result = _pay(gated, fake_stripe, tenant="ghost", metadata={"adminId": "user_1"}, id="cs_dokploy")
    assert result["actions"] == []
    assert gated.queue.list_tenants() == [] and gated.billing.store.pending() == []


def test_signup_after_its_payment_is_applied_at_once_with_the_paid_plan(
    gated: BilledService, fake_stripe: FakeStripe
) -> None:
    _pay(gated, fake_stripe)  # dropped: no tenant yet, but billing now knows acme paid for business x3
    response = gated.signup(signup_body("acme"))
    assert response.status_code == 202 and response.json()["state"] in ("queued", "running"), response.text  # not held
    assert gated.wait_job(response.json()["job_id"])["state"] == "succeeded"
    assert gated.declared("acme")["plan"] == "business" and gated.declared("acme")["servers"] == 3


def test_gate_off_applies_signups_at_once(billed: BilledService) -> None:
    billed.start_workers(1)
    response = billed.signup(signup_body("acme"))
    assert response.json()["state"] == "queued" and "phase" not in response.json()
    assert billed.wait_job(response.json()["job_id"])["state"] == "succeeded"


def test_the_gate_setting_is_a_boolean_and_needs_billing(tmp_path: Path) -> None:
    env = service_env(tmp_path, f"sqlite://{tmp_path / 'queue.sqlite'}")
    assert load_settings(env).require_payment is False
    with pytest.raises(SettingsError, match="SERVICE_REQUIRE_PAYMENT must be one of"):
        load_settings({**env, "SERVICE_REQUIRE_PAYMENT": "maybe"})
    settings = load_settings({**env, "SERVICE_REQUIRE_PAYMENT": "true"})
    queue = open_queue(settings.database_url)
    ctx = ServiceContext(settings, queue, load_environment(PROJECT_DIR, "local"), Metrics(queue))
    with pytest.raises(SettingsError, match="needs billing"):
        create_app(ctx)
