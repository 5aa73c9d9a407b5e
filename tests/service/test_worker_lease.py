"""A worker that loses its lease cancels its run, and the job's new owner finishes it (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from service.queue import JobQueue
from service.settings import Settings
from service.worker import Worker, WorkerOptions
from tests.service.fakes import FakeEngine
from tests.service.harness import wait_for

STEP = 0.5  # the first worker's engine takes 5 x STEP for a whole run
LEASE = 0.6
ACME = (
    "slug: acme\ndisplay_name: Acme Inc.\nplan: starter\nregion: pve-eu1\ndokploy_organization: org_acme\n"
    "owner: ops@acme.example\n"
)


class _Heartbeats:
    """The queue as one worker sees it, with its heartbeats broken in a chosen way."""

    def __init__(self, queue: JobQueue, mode: str) -> None:
        self._queue, self._mode, self._calls = queue, mode, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)

    def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        self._calls += 1
        if self._mode == "failing":  # the database unreachable from this worker only
            raise ConnectionError("queue database unreachable")
        if self._calls == 1:  # a stall (GC pause, overloaded host) longer than the lease
            time.sleep(LEASE * 2)
        return self._queue.heartbeat(job_id, worker_id, lease_seconds)


def _race(queue: JobQueue, settings: Settings, tmp_path: Path, mode: str) -> tuple[str, float, FakeEngine]:
    """Worker ``a`` (heartbeats broken per ``mode``) claims a signup; worker ``b`` takes it over."""
    job_id = queue.submit_signup("evt-acme", "acme", "starter", "org_acme", ACME, 3).job.id
    options = WorkerOptions(lease_seconds=LEASE, retry_base_seconds=0.05, poll_seconds=0.05)
    engine_a = FakeEngine(tmp_path / "engine", step_seconds=STEP, label="a")
    engine_b = FakeEngine(tmp_path / "engine", label="b")
    first = Worker(_Heartbeats(queue, mode), engine_a, options, worker_id="a")  # type: ignore[arg-type]
    second = Worker(queue, engine_b, options, worker_id="b")
    started = time.monotonic()
    thread = threading.Thread(target=first.run_once)
    thread.start()
    wait_for(lambda: queue.get_job(job_id).lease_owner == "a", 5, "worker a to claim the job")
    wait_for(second.run_once, 10, "worker b to take the job over")
    thread.join(timeout=10)
    return job_id, time.monotonic() - started, engine_a


def _assert_cancelled_and_taken_over(queue: JobQueue, job_id: str, seconds: float, engine: FakeEngine) -> list[str]:
    job = queue.get_job(job_id)
    assert (job.state, job.lease_owner, job.attempts) == ("succeeded", "b", 2)
    assert queue.get_tenant("acme").phase == "ready"
    effects = engine.effects()
    assert any(e.startswith("cancelled acme") and e.endswith("by a") for e in effects), effects
    assert seconds < 5 * STEP, "worker a's run went on after it lost its lease"
    return [e.rsplit(" by ", 1)[0] for e in effects if e.startswith("create")]


def test_heartbeats_failing_for_a_whole_lease_cancel_the_run(
    queue: JobQueue, settings: Settings, tmp_path: Path
) -> None:
    job_id, seconds, engine = _race(queue, settings, tmp_path, "failing")
    creates = _assert_cancelled_and_taken_over(queue, job_id, seconds, engine)
    assert len(creates) == len(set(creates)) == 5, "worker a went on creating after its lease lapsed"


def test_a_lease_taken_over_during_a_stall_cancels_the_run(queue: JobQueue, settings: Settings, tmp_path: Path) -> None:
    job_id, seconds, engine = _race(queue, settings, tmp_path, "stalled")
    _assert_cancelled_and_taken_over(queue, job_id, seconds, engine)
