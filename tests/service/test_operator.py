"""Operator endpoints over HTTP: bearer auth, tenant and job views, decommission, reapply, cancel."""

from __future__ import annotations

from pathlib import Path

from tests.service.harness import RunningService, declaration_files, signup_body


def test_tenant_data_needs_the_token(service: RunningService) -> None:
    job_id = service.signup(signup_body("acme")).json()["job_id"]
    for path in ("/v1/tenants", "/v1/tenants/acme", "/v1/jobs", f"/v1/jobs/{job_id}"):
        for token in ("", "wrong-token-0123456789"):
            response = service.op("GET", path, token=token)
            assert response.status_code == 401 and "acme" not in response.text
        assert service.op("GET", path).status_code == 200


def test_operator_mutations_need_the_token(service: RunningService) -> None:
    job_id = service.signup(signup_body("acme")).json()["job_id"]
    assert service.op("POST", "/v1/tenants/acme/decommission", token="nope").status_code == 401
    assert service.op("POST", f"/v1/jobs/{job_id}/cancel", token="nope").status_code == 401
    assert service.queue.get_job(job_id).state == "queued"


def test_decommission_destroys_the_stack_and_leaves_no_declaration(service: RunningService, tmp_path: Path) -> None:
    service.start_workers(1)
    service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    response = service.op("POST", "/v1/tenants/acme/decommission")
    assert response.status_code == 202
    assert service.wait_job(response.json()["job_id"])["state"] == "succeeded"
    assert service.op("GET", "/v1/tenants/acme").json()["phase"] == "decommissioned"
    assert service.engine.state("acme") is None
    assert declaration_files(tmp_path) == []
    assert sorted(e.split()[0] for e in service.engine.effects()) == ["create"] * 5 + ["delete"] * 5


def test_a_decommissioned_slug_can_sign_up_again(service: RunningService) -> None:
    service.start_workers(1)
    service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    service.wait_job(service.op("POST", "/v1/tenants/acme/decommission").json()["job_id"])
    again = service.signup(signup_body("acme", event_id="evt-acme-2", plan="business"))
    assert again.status_code == 202 and again.json()["duplicate"] is False
    service.wait_job(again.json()["job_id"])
    assert service.op("GET", "/v1/tenants/acme").json()["plan"] == "business"


def test_decommission_of_unknown_tenant_is_404(service: RunningService) -> None:
    response = service.op("POST", "/v1/tenants/nobody/decommission")
    assert response.status_code == 404 and "nobody" in response.json()["detail"]


def test_reapply_converges_without_new_resources(service: RunningService) -> None:
    service.start_workers(1)
    service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    job = service.wait_job(service.op("POST", "/v1/tenants/acme/reapply").json()["job_id"])
    assert job["state"] == "succeeded" and job["kind"] == "reapply"
    assert len(service.engine.effects()) == 5


def test_cancel_only_queued_jobs(service: RunningService) -> None:
    job_id = service.signup(signup_body("acme")).json()["job_id"]
    cancelled = service.op("POST", f"/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert service.op("GET", "/v1/tenants/acme").json()["phase"] == "cancelled"
    again = service.op("POST", f"/v1/jobs/{job_id}/cancel")
    assert again.status_code == 409 and "only queued jobs" in again.json()["detail"]
    service.start_workers(1)
    other = service.signup(signup_body("globex")).json()["job_id"]
    service.wait_job(other)
    assert service.engine.state("acme") is None


def test_tenant_view_shows_phase_timings_outputs_and_last_error(service: RunningService) -> None:
    service.engine.fail_next("acme", "error: dns record create failed: 400 Bad Request: zone cloud.test not found")
    service.start_workers(1)
    failed = service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    assert failed["state"] == "failed" and failed["attempts"] == 1
    tenant = service.op("GET", "/v1/tenants/acme").json()
    assert tenant["phase"] == "failed" and "zone cloud.test not found" in tenant["last_error"]
    assert set(tenant["phase_timings"]) == {"allocate", "sshkey", "vm", "dns"}
    fixed = service.wait_job(service.op("POST", "/v1/tenants/acme/reapply").json()["job_id"])
    assert fixed["state"] == "succeeded"
    tenant = service.op("GET", "/v1/tenants/acme").json()
    assert tenant["phase"] == "ready" and tenant["last_error"] is None and tenant["outputs"]["plan"] == "starter"
    assert service.engine.effects().count("create acme vm") == 1


def test_transient_failures_are_retried_with_backoff(service: RunningService) -> None:
    service.engine.fail_next("acme", "error: stack local.acme is locked by another update", at="alloc")
    service.engine.fail_next("acme", "error: proxmox API: 503 Service Unavailable", at="vm")
    service.start_workers(1)
    job = service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    assert job["state"] == "succeeded" and job["attempts"] == 3
    assert service.engine.effects().count("create acme vm") == 1


def test_retries_stop_at_max_attempts(service: RunningService) -> None:
    service.engine.fail_next("acme", "error: connection refused", times=10)
    service.start_workers(1)
    job = service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    assert job["state"] == "failed" and job["attempts"] == service.settings.max_attempts


def test_health_ready_and_metrics(service: RunningService) -> None:
    import requests

    assert requests.get(f"{service.base_url}/healthz", timeout=5).json() == {"status": "ok"}
    ready = requests.get(f"{service.base_url}/readyz", timeout=5).json()
    assert ready["checks"]["queue"] == "ok"
    service.start_workers(1)
    service.engine.fail_next("globex", "error: invalid template", at="vm")
    service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    service.wait_job(service.signup(signup_body("globex")).json()["job_id"])
    text = requests.get(f"{service.base_url}/metrics", timeout=5).text
    assert 'service_jobs{state="succeeded"} 1.0' in text and 'service_jobs{state="failed"} 1.0' in text
    assert 'service_signup_to_ready_seconds_count{phase="vm"} 1.0' in text
    assert 'service_automation_api_errors_total{operation="up",retryable="false"} 1.0' in text
    assert service.settings.hmac_secret.get_secret_value() not in text


def test_openapi_document_lists_the_routes(service: RunningService) -> None:
    import requests

    paths = requests.get(f"{service.base_url}/openapi.json", timeout=5).json()["paths"]
    assert {"/v1/signups", "/v1/tenants/{slug}/decommission", "/v1/jobs/{job_id}/cancel"} <= set(paths)


def test_a_proxmox_5xx_inside_the_engine_is_retried_and_the_retry_reads_everything_back(
    service: RunningService,
) -> None:
    """Found by the fault soak: bpg reports a Proxmox 500 as "received an HTTP 500 response", which failed the
    job for good at once; and a retry over the failed run's state re-applied what that state claimed (a resize
    "not owned by this VM", a pool change needing Pool.Allocate, a memory change never made)."""
    bpg_500 = (
        "proxmoxve:index:VmLegacy (acme-s0-vm):\n  error:   sdk-v2/provider2.go:571: sdk.helper_schema: error "
        "retrieving VM 10000: received an HTTP 500 response - Reason: Internal Server Error: provider=proxmox@8.3.0"
    )
    service.engine.fail_next("acme", bpg_500, at="vm")
    service.start_workers(1)
    job = service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    assert job["state"] == "succeeded" and job["attempts"] == 2
    effects = service.engine.effects()
    assert effects.count("refresh acme") == 1, "only the retry reads back"
    assert effects.index("refresh acme") > effects.index("create acme alloc")


def test_the_first_run_after_a_failed_job_reads_everything_back(service: RunningService) -> None:
    service.engine.fail_next("acme", "error: dns record create failed: 400 Bad Request: zone cloud.test not found")
    service.start_workers(1)
    assert service.wait_job(service.signup(signup_body("acme")).json()["job_id"])["state"] == "failed"
    assert "refresh acme" not in service.engine.effects()
    assert service.wait_job(service.op("POST", "/v1/tenants/acme/reapply").json()["job_id"])["state"] == "succeeded"
    assert service.engine.effects().count("refresh acme") == 1
    again = service.wait_job(service.op("POST", "/v1/tenants/acme/reapply").json()["job_id"])
    assert again["state"] == "succeeded" and service.engine.effects().count("refresh acme") == 1, (
        "a run after a success does not"
    )


def test_powerdns_not_answering_is_retried(service: RunningService) -> None:
    """Found by the fault soak: PowerDNS down for half a minute failed signups for good at the first attempt."""
    down = (
        "pulumi-python:dynamic/dns:Record (acme-s0-dns):\n  clients.powerdns.PowerDNSApiError: PowerDNS record "
        "acme.cloud.test. A in zone cloud.test.: no response: cannot reach http://127.0.0.1:8081/api/v1/servers/"
        "localhost (ConnectionError); check PDNS_API_URL and that PowerDNS is running"
    )
    service.engine.fail_next("acme", down, at="dns")
    service.start_workers(1)
    job = service.wait_job(service.signup(signup_body("acme")).json()["job_id"])
    assert job["state"] == "succeeded" and job["attempts"] == 2
