"""The queue on both backends: per-tenant exclusion under racing claimers, lease takeover, fencing."""

from __future__ import annotations

import threading
import time

from service.queue import Conflict, JobQueue, Outcome, open_queue
from service.settings import Settings


def _submit(queue: JobQueue, slug: str, event: str | None = None) -> str:
    return queue.submit_signup(event or f"evt-{slug}", slug, "starter", f"org_{slug}", "slug: x\n", 3).job.id


def test_racing_claimers_never_run_two_jobs_of_one_tenant(settings: Settings) -> None:
    queue = open_queue(settings.database_url)
    for n in range(6):
        _submit(queue, f"t{n}")
    running: dict[str, str] = {}
    overlap: list[str] = []
    guard = threading.Lock()

    def work(worker: str) -> None:
        own = open_queue(settings.database_url)
        while (job := own.claim(worker, 5)) is not None or own.counts()["queued"]:
            if job is None:
                continue
            with guard:
                if job.slug in running:
                    overlap.append(job.slug)
                running[job.slug] = worker
            if job.kind == "signup":  # a second job of this tenant, claimable only after this one ends
                own.submit(job.slug, "reapply", 3)
            time.sleep(0.02)
            with guard:
                del running[job.slug]
            own.finish(job.id, worker, Outcome(True))

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert overlap == []
    assert queue.counts()["succeeded"] == 12


def test_expired_lease_is_taken_over_and_the_old_owner_is_fenced_off(queue: JobQueue) -> None:
    job_id = _submit(queue, "acme")
    assert queue.claim("old", 0.2) is not None
    assert queue.claim("new", 5) is None  # lease still live
    time.sleep(0.3)
    taken = queue.claim("new", 5)
    assert taken is not None and taken.id == job_id and taken.attempts == 2
    assert queue.heartbeat(job_id, "old", 5) is False
    assert queue.finish(job_id, "old", Outcome(False, error="late")) is None
    done = queue.finish(job_id, "new", Outcome(True, {"hostname": "acme.cloud.test"}))
    assert done is not None and done.state == "succeeded"
    assert queue.get_tenant("acme").phase == "ready"


def test_retry_waits_for_its_backoff(queue: JobQueue) -> None:
    job_id = _submit(queue, "acme")
    queue.claim("w", 5)
    queue.finish(job_id, "w", Outcome(False, error="error: 503", retry_in=0.3))
    assert queue.get_job(job_id).state == "queued"
    assert queue.claim("w", 5) is None
    time.sleep(0.35)
    again = queue.claim("w", 5)
    assert again is not None and again.attempts == 2


def test_decommission_supersedes_a_retrying_apply_so_nothing_is_recreated(queue: JobQueue) -> None:
    job_id = _submit(queue, "acme")
    queue.claim("w", 5)
    queue.finish(job_id, "w", Outcome(False, error="error: 503", retry_in=0.01))
    assert queue.submit("acme", "reapply", 3).job.id == job_id  # the waiting apply already covers it
    destroy = queue.submit("acme", "decommission", 3).job
    assert queue.get_job(job_id).state == "cancelled"
    time.sleep(0.02)
    claimed = queue.claim("w", 5)
    assert claimed is not None and claimed.id == destroy.id
    queue.finish(destroy.id, "w", Outcome(True))
    assert queue.claim("w", 5) is None and queue.get_tenant("acme").phase == "decommissioned"


def test_cancelling_a_job_that_waits_for_a_retry_settles_the_tenant(queue: JobQueue) -> None:
    job_id = _submit(queue, "acme")
    queue.claim("w", 5)
    queue.finish(job_id, "w", Outcome(False, error="error: 503", retry_in=60))
    assert queue.get_tenant("acme").phase == "provisioning"
    cancelled = queue.cancel(job_id)
    assert cancelled.state == "cancelled"
    tenant = queue.get_tenant("acme")
    assert tenant.phase == "failed" and "reapply or decommission" in (tenant.last_error or "")
    assert queue.claim("w", 5) is None
    destroy = queue.submit("acme", "decommission", 3)  # what it may have left can still be removed
    assert destroy.created and destroy.job.operation == "destroy"


def test_cancelling_a_job_that_never_ran_frees_the_tenant(queue: JobQueue) -> None:
    job_id = _submit(queue, "acme")
    queue.cancel(job_id)
    assert queue.get_tenant("acme").phase == "cancelled"


def test_a_job_whose_worker_keeps_dying_fails_after_max_attempts(queue: JobQueue) -> None:
    job_id = queue.submit_signup("evt-acme", "acme", "starter", "org_acme", "slug: x\n", 2).job.id
    first = queue.claim("a", 0.1)
    assert first is not None and first.attempts == 1
    time.sleep(0.15)
    second = queue.claim("b", 0.1)  # taking over the lapsed lease is attempt 2
    assert second is not None and second.id == job_id and second.attempts == 2
    time.sleep(0.15)
    assert queue.claim("c", 5) is None  # the last attempt lost its worker too: no third run
    job = queue.get_job(job_id)
    assert job.state == "failed" and "no attempts are left" in (job.error or "")
    tenant = queue.get_tenant("acme")
    assert tenant.phase == "failed" and tenant.last_error == job.error
    assert queue.finish(job_id, "b", Outcome(True)) is None  # the lost worker cannot revive it


def test_backup_and_restore_jobs_leave_the_tenant_ready_and_its_outputs_alone(queue: JobQueue) -> None:
    job_id = _submit(queue, "acme")
    queue.claim("w", 5)
    queue.finish(job_id, "w", Outcome(True, outputs={"vmIds": [100]}))
    backup = queue.submit("acme", "backup", 3, {"server": 0}).job
    assert backup.params == {"server": 0} and backup.operation == "backup"
    assert queue.submit("acme", "backup", 3, {"server": 0}).job.id == backup.id, "an identical queued job is reused"
    assert queue.submit("acme", "backup", 3, {}).job.id != backup.id, "other parameters are another job"
    claimed = queue.claim("w", 5)
    assert claimed is not None and claimed.id == backup.id
    assert queue.get_tenant("acme").phase == "ready", "a backup does not make the tenant provisioning"
    queue.finish(backup.id, "w", Outcome(False, error="storage full"))
    tenant = queue.get_tenant("acme")
    assert (tenant.phase, tenant.outputs, tenant.last_error) == ("ready", {"vmIds": [100]}, "storage full")
    try:
        queue.submit("acme", "undelete", 3)
    except Conflict as exc:
        assert "only a decommissioned tenant" in str(exc)
    else:
        raise AssertionError("a ready tenant was undeleted")


def test_a_decommissioned_tenant_shows_its_archive_date_and_only_undelete_is_accepted(queue: JobQueue) -> None:
    job_id = _submit(queue, "acme")
    queue.claim("w", 5)
    queue.finish(job_id, "w", Outcome(True))
    destroy = queue.submit("acme", "decommission", 3).job
    queue.claim("w", 5)
    queue.finish(destroy.id, "w", Outcome(True, outputs={"archivedUntil": "2027-01-03", "archives": []}))
    tenant = queue.get_tenant("acme")
    assert (tenant.phase, tenant.status) == ("decommissioned", "archived until 2027-01-03")
    for kind in ("backup", "restore", "reapply"):
        try:
            queue.submit("acme", kind, 3)  # type: ignore[arg-type]
        except Conflict:
            continue
        raise AssertionError(f"{kind} was accepted for a decommissioned tenant")
    undelete = queue.submit("acme", "undelete", 3).job
    claimed = queue.claim("w", 5)
    assert claimed is not None and claimed.id == undelete.id and queue.get_tenant("acme").phase == "provisioning"
    queue.finish(undelete.id, "w", Outcome(True, outputs={"vmIds": [100]}))
    assert queue.get_tenant("acme").phase == "ready"
