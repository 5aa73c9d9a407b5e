"""Many signups at once: all reach ready, tenants run in parallel, never two jobs of one tenant at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.service.harness import RunningService, signup_body, wait_for


def test_twenty_concurrent_signups_all_reach_ready(service: RunningService) -> None:
    service.engine.step_seconds = 0.01
    service.start_workers(service.settings.concurrency)
    slugs = [f"tenant-{n:02d}" for n in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda s: service.signup(signup_body(s)), slugs))
        duplicates = list(pool.map(lambda s: service.signup(signup_body(s)), slugs[:5]))
    assert [r.status_code for r in responses + duplicates] == [202] * 25
    assert all(r.json()["duplicate"] for r in duplicates)
    wait_for(lambda: all(t.phase == "ready" for t in service.queue.list_tenants()), 30, "every tenant ready")
    assert sorted(t.slug for t in service.queue.list_tenants()) == slugs
    assert len(service.queue.list_jobs()) == 20
    assert len(service.engine.effects()) == 20 * 5
    workers = {j.lease_owner for j in service.queue.list_jobs()}
    assert len(workers) > 1  # tenants ran in parallel


def test_jobs_of_one_tenant_run_one_at_a_time_in_order(service: RunningService) -> None:
    service.engine.step_seconds = 0.02
    first = service.signup(signup_body("acme")).json()["job_id"]
    reapply = service.op("POST", "/v1/tenants/acme/reapply").json()["job_id"]
    decommission = service.op("POST", "/v1/tenants/acme/decommission").json()["job_id"]
    service.start_workers(3)
    service.wait_job(decommission)
    jobs = {j.id: j for j in service.queue.list_jobs(slug="acme")}
    assert jobs[reapply].state == "cancelled"  # a queued apply is superseded by the decommission
    finished, started = jobs[first].finished_at, jobs[decommission].started_at
    assert finished is not None and started is not None and finished <= started
    assert service.engine.state("acme") is None
