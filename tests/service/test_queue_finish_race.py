"""A worker finishing a run whose lease lapsed must not overwrite the claim of the worker that took the
job over (a lost update seen once on PostgreSQL under load: the job ended queued with nobody's lease)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import service.queue.sql as sql
from service.queue import JobQueue, Outcome

ACME = (
    "slug: acme\ndisplay_name: Acme Inc.\nplan: starter\nregion: pve-eu1\ndokploy_organization: org_acme\n"
    "owner: ops@acme.example\n"
)


def test_a_claim_racing_a_late_finish_is_never_lost(queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = queue.submit_signup("evt-acme", "acme", "starter", "org_acme", ACME, 3).job.id
    assert queue.claim("a", 0.01) is not None
    time.sleep(0.05)  # worker a's lease has lapsed: worker b may take the job over

    entered, proceed = threading.Event(), threading.Event()
    close_phase = sql._close_phase

    def paused(*args: Any) -> Any:  # runs inside finish, between reading the job and writing it
        entered.set()
        proceed.wait(10)
        return close_phase(*args)

    monkeypatch.setattr(sql, "_close_phase", paused)
    finished: list[Any] = []
    late = threading.Thread(
        target=lambda: finished.append(queue.finish(job_id, "a", Outcome(False, error="x", retry_in=0)))
    )
    late.start()
    assert entered.wait(10), "finish did not start"
    claimed: list[Any] = []
    claimer = threading.Thread(target=lambda: claimed.append(queue.claim("b", 30)))
    claimer.start()
    time.sleep(0.3)  # give b's claim every chance to slip in while a's finish is half done
    proceed.set()
    late.join(10)
    claimer.join(10)
    monkeypatch.setattr(sql, "_close_phase", close_phase)

    job = queue.get_job(job_id)
    if claimed[0] is not None:  # b got it (after a's finish, or instead of it): b must still hold it
        assert (job.state, job.lease_owner) == ("running", "b"), "b's claim was overwritten by a's late finish"
        assert finished[0] is None or job.attempts == 2
    else:  # b skipped the row a was finishing: a's retry stands and b gets the job on its next claim
        assert (job.state, job.lease_owner) == ("queued", None)
        again = queue.claim("b", 30)
        assert again is not None and (again.lease_owner, again.attempts) == ("b", 2)


def test_a_cancel_racing_a_claim_never_cancels_a_running_job(queue: JobQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = queue.submit_signup("evt-acme", "acme", "starter", "org_acme", ACME, 3).job.id
    entered, proceed = threading.Event(), threading.Event()
    get_job = sql.SqlQueue._get_job
    canceller: list[threading.Thread] = []

    def paused(tx: Any, job_id_: str) -> Any:  # cancel's read of the job, before its write
        job = get_job(tx, job_id_)
        if canceller and threading.current_thread() is canceller[0] and not entered.is_set():
            entered.set()
            proceed.wait(10)
        return job

    monkeypatch.setattr(sql.SqlQueue, "_get_job", staticmethod(paused))
    outcome: list[Any] = []

    def cancel() -> None:
        try:
            outcome.append(queue.cancel(job_id))
        except Exception as exc:
            outcome.append(exc)

    canceller.append(threading.Thread(target=cancel))
    canceller[0].start()
    assert entered.wait(10), "cancel did not start"
    claimed: list[Any] = []
    claimer = threading.Thread(target=lambda: claimed.append(queue.claim("b", 30)))
    claimer.start()
    time.sleep(0.3)
    proceed.set()
    canceller[0].join(10)
    claimer.join(10)
    monkeypatch.setattr(sql.SqlQueue, "_get_job", staticmethod(get_job))

    job = queue.get_job(job_id)
    if claimed[0] is not None:  # the worker got the job: it runs, and the cancel was refused
        assert (job.state, job.lease_owner) == ("running", "b"), "a running job was cancelled"
        assert isinstance(outcome[0], Exception) and "started" in str(outcome[0])
    else:
        assert job.state == "cancelled" and not isinstance(outcome[0], Exception)
