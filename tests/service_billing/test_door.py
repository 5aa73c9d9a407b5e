"""The signup door refuses over-quota requests with the quota pack's own policy name and message."""
from __future__ import annotations

from tests.service.harness import signup_body
from tests.service_billing.conftest import BilledService


def test_over_quota_signup_is_refused_with_the_policy_and_nothing_is_created(billed: BilledService) -> None:
    response = billed.signup(signup_body("acme", servers=2))
    assert response.status_code == 422
    assert {"field": "servers", "policy": "tenant-server-quota",
            "message": "tenant acme: 2 servers exceed plan 'starter' limit of 1 (max_servers)"} in response.json()["detail"]
    assert billed.queue.list_tenants() == [] and billed.queue.list_jobs() == []
    assert not any(billed.settings.tenants_dir.glob("*.yaml"))


def test_request_within_the_plan_passes_the_door(billed: BilledService) -> None:
    response = billed.signup(signup_body("acme", plan="business", servers=3))
    assert response.status_code == 202
    assert billed.declared("acme")["servers"] == 3 and billed.jobs("acme") == [("signup", "queued")]
