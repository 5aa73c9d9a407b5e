"""POST /v1/signups over HTTP: accepted signups run to ready; every refusal creates nothing."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.queue import Conflict
from service.queue.sqlite import SqliteQueue
from tests.service.harness import RunningService, declaration_files, signup_body


def nothing_created(service: RunningService) -> bool:
    """No tenant, no job, no engine effect."""
    return service.queue.list_tenants() == [] and service.queue.list_jobs() == [] and service.engine.effects() == []


def test_signup_answers_202_and_the_job_runs_to_ready(service: RunningService, tmp_path: Path) -> None:
    service.start_workers(1)
    response = service.signup(signup_body("acme"))
    assert response.status_code == 202
    job = service.wait_job(response.json()["job_id"])
    assert job["state"] == "succeeded"
    tenant = service.op("GET", "/v1/tenants/acme").json()
    assert tenant["phase"] == "ready"
    assert tenant["outputs"]["hostname"] == "acme.cloud.test"
    assert set(tenant["phase_timings"]) == {"allocate", "sshkey", "vm", "dns", "dokploy"}
    declared = service.engine.declaration("acme") or ""
    assert "plan: starter" in declared and "region: pve-eu1" in declared
    assert declared == service.queue.get_tenant("acme").declaration
    assert declaration_files(tmp_path) == [], "the declaration was written to disk"


def test_signup_answers_at_once_without_waiting_for_the_engine(service: RunningService) -> None:
    started = time.monotonic()
    response = service.signup(signup_body("acme"))
    assert response.status_code == 202 and time.monotonic() - started < 2
    assert service.op("GET", f"/v1/jobs/{response.json()['job_id']}").json()["state"] == "queued"


def test_slug_is_derived_from_the_organization_name(service: RunningService) -> None:
    body = signup_body("x", organization="Initech Systems, Inc.")
    del body["slug"]
    response = service.signup(body)
    assert response.status_code == 202 and response.json()["slug"] == "initech-systems-inc"


@pytest.mark.parametrize(
    "change, field, text",
    [
        ({"plan": "platinum"}, "plan", "unknown plan 'platinum'"),
        ({"slug": "Not_A_Label"}, "slug", ""),
        ({"region": "mars-1"}, "region", "unknown region 'mars-1'"),
        ({"servers": 5}, "servers", "exceed plan 'starter'"),
        ({"contact_email": "nobody"}, "contact_email", ""),
        ({"event_id": ""}, "event_id", ""),
        ({"surprise": 1}, "surprise", ""),
    ],
)
def test_invalid_signups_are_refused_naming_the_field(
    service: RunningService, change: dict[str, Any], field: str, text: str
) -> None:
    response = service.signup(signup_body("acme", **change))
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert any(p["field"] == field and text in p["message"] for p in problems), problems
    assert nothing_created(service)


def test_missing_required_field_is_named(service: RunningService) -> None:
    body = signup_body("acme")
    del body["organization_id"]
    response = service.signup(body)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "organization_id"
    assert nothing_created(service)


@pytest.mark.parametrize(
    "signature, message",
    [
        ("t=1,v1=00", "outside the 300 s window"),
        ("v1=deadbeef", "malformed X-Signature"),
        ("", "missing X-Signature"),
    ],
)
def test_bad_signature_headers_are_refused(service: RunningService, signature: str, message: str) -> None:
    response = service.signup(signup_body("acme"), signature=signature)
    assert response.status_code == 401 and message in response.json()["detail"]
    assert nothing_created(service)


@pytest.mark.parametrize("digest", ["é" * 64, "\u00ff00", "ab\u00e9"])
def test_non_ascii_signature_is_refused_not_a_server_error(service: RunningService, digest: str) -> None:
    response = service.signup(signup_body("acme"), signature=f"t={int(time.time())},v1={digest}")
    assert response.status_code == 401 and "does not match" in response.json()["detail"]
    assert nothing_created(service)


def test_non_ascii_digit_timestamp_is_malformed_not_a_server_error(service: RunningService) -> None:
    response = service.signup(signup_body("acme"), signature="t=\u00b2,v1=00")
    assert response.status_code == 401 and "malformed X-Signature" in response.json()["detail"]
    assert nothing_created(service)


def test_signature_over_another_body_is_refused(service: RunningService) -> None:
    from service.signing import sign

    other = sign(service.settings.hmac_secret, b'{"event_id": "other"}')
    response = service.signup(signup_body("acme"), signature=other)
    assert response.status_code == 401 and "does not match" in response.json()["detail"]
    assert nothing_created(service)


def test_stale_timestamp_is_refused_even_if_correctly_signed(service: RunningService) -> None:
    response = service.signup(signup_body("acme"), timestamp=int(time.time()) - 301)
    assert response.status_code == 401 and "window" in response.json()["detail"]
    assert nothing_created(service)


def test_malformed_json_is_refused(service: RunningService) -> None:
    response = service.signup(b'{"event_id": "e1", "slug": ')
    assert response.status_code == 422 and "Invalid JSON" in json.dumps(response.json())
    assert nothing_created(service)


def test_oversized_body_is_refused_before_anything_else(service: RunningService) -> None:
    body = signup_body("acme", display_name="x" * 5000)
    response = service.signup(body)
    assert response.status_code == 413 and "4096 bytes" in response.json()["detail"]
    assert nothing_created(service)


def test_duplicate_event_has_one_effect(service: RunningService) -> None:
    first = service.signup(signup_body("acme", event_id="evt-1"))
    again = service.signup(signup_body("acme", event_id="evt-1"))
    same_tenant = service.signup(signup_body("acme", event_id="evt-2"))
    assert {first.json()["job_id"]} == {again.json()["job_id"], same_tenant.json()["job_id"]}
    assert [again.json()["duplicate"], same_tenant.json()["duplicate"]] == [True, True]
    service.start_workers(2)
    service.wait_job(first.json()["job_id"])
    assert len(service.queue.list_jobs()) == 1 and len(service.queue.list_tenants()) == 1
    assert service.engine.effects().count("create acme vm") == 1


def test_signup_for_a_taken_slug_with_another_plan_is_a_conflict(service: RunningService) -> None:
    assert service.signup(signup_body("acme")).status_code == 202
    response = service.signup(signup_body("acme", event_id="evt-other", plan="business"))
    assert response.status_code == 409 and "already exists" in response.json()["detail"]
    assert len(service.queue.list_jobs()) == 1


def test_second_tenant_for_the_same_dokploy_organization_is_refused(service: RunningService) -> None:
    service.start_workers(1)
    first = service.signup(signup_body("acme"))
    assert first.status_code == 202
    second = service.signup(signup_body("acme-two", organization_id="org_acme"))
    assert second.status_code == 409
    assert "org_acme" in second.json()["detail"] and "'acme'" in second.json()["detail"]
    assert [t.slug for t in service.queue.list_tenants()] == ["acme"]
    assert {j.slug for j in service.queue.list_jobs()} == {"acme"}
    assert service.wait_job(first.json()["job_id"])["state"] == "succeeded"
    assert service.engine.state("acme-two") is None
    # Once acme is decommissioned, the organization may have a tenant again.
    gone = service.op("POST", "/v1/tenants/acme/decommission").json()["job_id"]
    assert service.wait_job(gone)["state"] == "succeeded"
    assert service.signup(signup_body("acme-two", organization_id="org_acme")).status_code == 202


def test_concurrent_signups_of_one_organization_make_one_tenant(service: RunningService) -> None:
    bodies = [signup_body(f"race-{i}", organization_id="org_race") for i in range(6)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        codes = sorted(r.status_code for r in pool.map(service.signup, bodies))
    assert codes == [202] + [409] * 5
    assert len(service.queue.list_tenants()) == 1 and len(service.queue.list_jobs()) == 1


def test_tenants_that_already_share_an_organization_are_named_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A queue from before the rule opens (so they can be decommissioned), names them, and refuses a third."""
    path = tmp_path / "old.sqlite"
    SqliteQueue(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX tenants_one_per_organization")
        db.executemany(
            "INSERT INTO tenants (slug, plan, organization_id, declaration, phase, created_at, updated_at, "
            "outputs) VALUES (?, 'starter', 'org_acme', '', 'ready', 0, 0, '{}')",
            [("acme",), ("acme-2",)],
        )
    caplog.set_level(logging.ERROR)
    reopened = SqliteQueue(path)
    assert "tenants 'acme' and 'acme-2' share Dokploy organization 'org_acme'" in caplog.text
    with pytest.raises(Conflict, match="org_acme"):
        reopened.submit_signup("evt-3", "acme-3", "starter", "org_acme", "", 4)
