"""Signups held for payment, on SQLite and PostgreSQL: not runnable, released once, removable without a run."""

from __future__ import annotations

import pytest

from service.queue import AWAITING_PAYMENT, HELD, Conflict, JobQueue


def _hold(queue: JobQueue, slug: str = "acme", event_id: str = "evt-1") -> str:
    submitted = queue.submit_signup(event_id, slug, "starter", f"org_{slug}", "slug: acme\n", 3, hold=True)
    assert submitted.created and submitted.job.state == HELD
    return submitted.job.id


def test_a_held_signup_is_never_claimed(queue: JobQueue) -> None:
    job_id = _hold(queue)
    assert queue.claim("w", 5) is None
    assert queue.get_tenant("acme").phase == AWAITING_PAYMENT and queue.counts()[HELD] == 1
    assert queue.submit_signup("evt-1", "acme", "starter", "org_acme", "slug: acme\n", 3).job.id == job_id


def test_release_queues_the_held_job_once_with_the_paid_declaration(queue: JobQueue) -> None:
    job_id = _hold(queue)
    released = queue.release_held("acme", "business", "slug: acme\nplan: business\n")
    assert released is not None and released.id == job_id and released.state == "queued"
    assert queue.release_held("acme", "enterprise", "slug: acme\nplan: enterprise\n") is None
    tenant = queue.get_tenant("acme")
    assert (tenant.plan, tenant.phase) == ("business", "queued") and "business" in tenant.declaration
    claimed = queue.claim("w", 5)
    assert claimed is not None and claimed.id == job_id


def test_a_held_tenant_refuses_reapply_and_decommissions_without_a_job(queue: JobQueue) -> None:
    job_id = _hold(queue)
    with pytest.raises(Conflict, match=AWAITING_PAYMENT):
        queue.submit("acme", "reapply", 3)
    dropped = queue.submit("acme", "decommission", 3)
    assert dropped.job.id == job_id and dropped.job.state == "cancelled"
    assert queue.get_tenant("acme").phase == "decommissioned"
    assert [j.id for j in queue.list_jobs(slug="acme")] == [job_id] and queue.claim("w", 5) is None
