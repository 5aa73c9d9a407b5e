"""Workers: lease a job, run it through the provisioning runner, report its phases, settle it.

A worker heartbeats its lease while the engine runs; if it dies (SIGKILL, lost machine) the lease
lapses and another worker takes the job over. Engine runs converge, so a re-run has the effect of one.
A worker that loses its lease (taken over, or heartbeats failing for longer than the lease) cancels
its engine run at once; the job's new owner runs it again. On one host the stack's run lock keeps the
new owner waiting until the cancelled run has ended; across hosts the engine's own lock does.

Everything about the run itself (the declaration's way to the program, phases, recovery, which failures
are worth retrying) lives in :mod:`provisioning`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import requests

from billing.adapter.usage_report import running_after
from components.spec import SpecErrors, TenantSpec
from provisioning.declarations import stored_tenant
from provisioning.failures import error_kind, error_summary, retry_in
from provisioning.phases import PhaseTracker
from provisioning.runlock import StackBusy
from provisioning.runs import Operation, Runner, RunResult
from provisioning.tenant_backups import FAILURES, TenantBackups
from service.logs import log_context
from service.metrics import Metrics
from service.queue import Job, JobQueue, Outcome
from service.queue.base import DATA_OPERATIONS
from storage import describe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker leases and retries."""

    lease_seconds: float = 30.0
    retry_base_seconds: float = 5.0
    poll_seconds: float = 1.0


class Worker:
    """One job at a time from ``queue``, run with ``runner``."""

    def __init__(
        self,
        queue: JobQueue,
        runner: Runner,
        options: WorkerOptions,
        metrics: Metrics | None = None,
        worker_id: str | None = None,
        backups: TenantBackups | None = None,
    ) -> None:
        self.queue, self.runner, self.options, self.metrics = queue, runner, options, metrics
        self.backups = backups
        """Runs backup, restore and undelete jobs; a worker without it fails them, saying so."""
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"

    def run_forever(self, stop: threading.Event) -> None:
        """Poll and run jobs until ``stop`` is set; queue outages are logged and waited out."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception as exc:  # the database blinked: back off, never die
                # SQLite's messages ("database is locked") hold no secret; other drivers' may name the DSN
                log.error("worker %s: queue unavailable (%s)", self.id, describe(exc))
                busy = False
            if not busy:
                stop.wait(self.options.poll_seconds)

    def run_once(self) -> bool:
        """Claim and run one job; False when nothing was runnable."""
        job = self.queue.claim(self.id, self.options.lease_seconds)
        if job is None:
            return False
        with log_context(tenant=job.slug, job=job.id, worker=self.id):
            return self._run_claimed(job)

    def _run_claimed(self, job: Job) -> bool:
        log.info("worker %s: %s %s (attempt %d)", self.id, job.operation, job.slug, job.attempts)
        stop_heartbeat, lost = threading.Event(), threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, stop_heartbeat, lost), daemon=True)
        beat.start()
        try:
            result, declaration = self._execute(job, lost)
        finally:
            stop_heartbeat.set()
            beat.join()
        running = None if job.operation in DATA_OPERATIONS else running_after(declaration, _billed_as(job.operation))
        self._settle(job, result, running)
        return True

    def _heartbeat(self, job: Job, stop: threading.Event, lost: threading.Event) -> None:
        """Extend the lease every third of it; set ``lost`` (cancelling the run) once it is gone.

        It is gone when the queue says another worker holds it, or when no heartbeat got through for a
        whole lease: by then another worker may have taken the job over.
        """
        last_ok = time.monotonic()
        while not stop.wait(self.options.lease_seconds / 3):
            try:
                held = self.queue.heartbeat(job.id, self.id, self.options.lease_seconds)
            except Exception as exc:
                silent = time.monotonic() - last_ok
                log.warning("worker %s: heartbeat failed (%s), none for %.1f s", self.id, type(exc).__name__, silent)
                if silent < self.options.lease_seconds:
                    continue
                log.error(
                    "worker %s: no heartbeat for longer than the lease (%.1f s): job %s may have a new owner; "
                    "cancelling its run",
                    self.id,
                    self.options.lease_seconds,
                    job.id,
                )
                lost.set()
                return
            if not held:
                log.error("worker %s: lost the lease on job %s; cancelling its run", self.id, job.id)
                lost.set()
                return
            last_ok = time.monotonic()

    def _after_failure(self, job: Job) -> bool:
        """Whether the tenant's last run failed (an earlier attempt of this job, or its previous job): a failed
        run may leave state that holds what it asked for rather than what is (a half-created VM's disk, an update
        the cluster refused), so the next ``up`` reads everything back first."""
        if job.attempts > 1:
            return True
        try:
            history = self.queue.list_jobs(slug=job.slug, limit=20)
        except Exception:  # the queue blinked: reading back costs a little time, never correctness
            return True
        earlier = [j for j in history if j.seq < job.seq]
        return bool(earlier) and earlier[0].state in ("failed", "cancelled")

    def _execute(self, job: Job, cancel: threading.Event) -> tuple[RunResult, str]:
        """The run's result and the declaration it applied (as stored)."""
        declaration = self.queue.get_tenant(job.slug).declaration
        operation = cast(Operation, job.operation)
        try:
            tenant = stored_tenant(job.slug, declaration, self.runner.environment)
        except SpecErrors as errors:  # nothing ran; running it again cannot help
            return RunResult(job.slug, operation, False, 0.0, error=str(errors)), declaration
        phases = PhaseTracker(on_phase=lambda phase: self._record_phase(job, phase))
        try:
            if job.operation in BACKUP_OPERATIONS:
                return self._backup_operation(job, tenant), declaration
            refresh = self._after_failure(job)
            rotation = job.id if job.kind == "rotate-keys" else None  # the same id on every attempt: one new key
            result = self.runner.run(
                tenant, operation, on_event=phases, cancel=cancel, refresh=refresh, rotation=rotation
            )
            return result, declaration
        except Exception as exc:  # a bug or an unexpected engine failure: the job fails, the worker lives
            log.exception("worker %s: runner raised on %s", self.id, job.slug)
            return RunResult(
                job.slug,
                operation,
                False,
                0.0,
                error=f"runner failed unexpectedly ({type(exc).__name__}); see the service log",
            ), declaration

    def _backup_operation(self, job: Job, tenant: TenantSpec) -> RunResult:
        """A backup, restore or undelete job (:mod:`provisioning.tenant_backups`), its progress as phases."""
        backups = self.backups
        if backups is None:
            error = "this worker was started without backup access (Worker(backups=...)); run the job on the service"
            return RunResult(job.slug, cast(Operation, job.operation), False, 0.0, error=error)
        progress = _TaskProgress(lambda phase: self._record_phase(job, phase))
        operation = cast(Operation, job.operation)
        started, p = time.monotonic(), job.params
        try:
            if job.operation == "backup":
                made = backups.backup(tenant, p.get("server"), on_progress=progress)
                outputs: dict[str, Any] = {"backups": [b.to_json() for b in made]}
            elif job.operation == "restore":
                report = backups.restore(
                    tenant, str(p["volid"]), int(p["server"]), stop=bool(p.get("stop")), on_progress=progress
                )
                outputs = report.to_json()
            else:
                report = backups.undelete(tenant, on_progress=progress)
                outputs = dict(report.applied.outputs) if report.applied is not None else {}
                outputs["restored"] = report.restored
        except FAILURES as exc:
            kind = "transient" if isinstance(exc, TRANSIENT_BACKUP) else None
            return RunResult(job.slug, operation, False, time.monotonic() - started, error=str(exc), error_kind=kind)
        return RunResult(job.slug, operation, True, time.monotonic() - started, outputs=outputs)

    def _record_phase(self, job: Job, phase: str) -> None:
        """Record the job's current phase (:attr:`provisioning.phases.PhaseTracker.current`); best effort."""
        try:
            self.queue.record_phase(job.id, self.id, phase)
        except Exception as exc:  # progress is best effort; the run must go on
            log.warning("worker %s: progress not recorded (%s)", self.id, type(exc).__name__)

    def _settle(self, job: Job, result: RunResult, running: tuple[str, int] | None = None) -> None:
        retry = retry_in(result, job.attempts, job.max_attempts, self.options.retry_base_seconds)
        if not result.ok and self.metrics:
            self.metrics.engine_errors.labels(job.operation, str(retry is not None).lower()).inc()
            self.metrics.job_failures.labels(job.operation, error_kind(result)).inc()
            if retry is not None:
                self.metrics.job_retries.labels(job.operation).inc()
        done = self.queue.finish(
            job.id,
            self.id,
            Outcome(result.ok, dict(result.outputs), result.error, retry, running if result.ok else None),
        )
        if done is None:
            log.error("worker %s: job %s was taken over before it finished", self.id, job.id)
            return
        if not result.ok and retry is not None:
            log.warning(
                "worker %s: %s of %s failed (attempt %d of %d), tried again in %.1f s: %s",
                self.id,
                job.operation,
                job.slug,
                job.attempts,
                job.max_attempts,
                retry,
                error_summary(result.error),
            )
        elif not result.ok:
            log.error(
                "worker %s: %s of %s failed for good after %d attempt(s) (%s): %s",
                self.id,
                job.operation,
                job.slug,
                job.attempts,
                error_kind(result),
                error_summary(result.error),
            )
        if self.metrics:
            self._observe(done, result)

    def _observe(self, job: Job, result: RunResult) -> None:
        assert self.metrics is not None
        outcome = "retry" if job.state == "queued" else job.state
        self.metrics.job_runs.labels(job.operation, outcome).inc()
        if job.state == "succeeded" and job.kind == "signup":
            for phase, timing in job.phases.items():
                self.metrics.signup_to_ready.labels(phase).observe(timing.get("seconds", 0.0))
            self.metrics.signup_to_ready.labels("total").observe((job.finished_at or 0.0) - job.created_at)


BACKUP_OPERATIONS = ("backup", "restore", "undelete")
TRANSIENT_BACKUP = (StackBusy, requests.RequestException, TimeoutError)


def _billed_as(operation: str) -> str:
    """What a finished operation means for usage: an undelete runs servers as an ``up`` does."""
    return "up" if operation == "undelete" else operation


class _TaskProgress:
    """Proxmox task log lines -> the job's current phase (the last line that says what is happening)."""

    def __init__(self, record: Callable[[str], None]) -> None:
        self.record = record

    def __call__(self, line: str) -> None:
        if line.startswith("INFO: ") and any(w in line for w in ("Starting", "Finished", "restore", "creating")):
            self.record(line[len("INFO: ") :][:120])
