"""What the service keeps: jobs, tenants and seen events, behind one :class:`JobQueue` interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol


class JobState(StrEnum):
    """Where a job is; equal to its string (``JobState.QUEUED == "queued"``)."""

    HELD = "held"
    """A signup recorded but not runnable until billing's ``Provision`` releases it."""
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TenantPhase(StrEnum):
    """Where a tenant is; equal to its string (``TenantPhase.READY == "ready"``)."""

    AWAITING_PAYMENT = "awaiting-payment"
    """Its signup job is held for payment (``SERVICE_REQUIRE_PAYMENT``)."""
    QUEUED = "queued"
    PROVISIONING = "provisioning"
    READY = "ready"
    DECOMMISSIONING = "decommissioning"
    DECOMMISSIONED = "decommissioned"
    FAILED = "failed"
    CANCELLED = "cancelled"


JobKind = Literal["signup", "reapply", "decommission", "backup", "restore", "undelete", "rotate-keys"]
OPERATION: dict[str, str] = {
    "signup": "up",
    "reapply": "up",
    "decommission": "destroy",
    "backup": "backup",
    "restore": "restore",
    "undelete": "undelete",
    "rotate-keys": "up",
}
ROTATION_PARAMS = {"rotate_keys": True}
"""A rotate-keys job's parameters: an ``up`` like a reapply's, told apart so one never stands in for the other."""
DATA_OPERATIONS = ("backup", "restore")
"""Operations on a ready tenant's data: they leave its phase and outputs as they are."""
UNFINISHED = (JobState.QUEUED, JobState.RUNNING)
REUSABLE_PHASES = (TenantPhase.DECOMMISSIONED, TenantPhase.CANCELLED)
"""Tenants that no longer hold their slug or their Dokploy organization (a new signup may take them)."""
HELD = JobState.HELD
AWAITING_PAYMENT = TenantPhase.AWAITING_PAYMENT


@dataclass
class Job:
    """One engine operation on one tenant, and everything known about its runs."""

    id: str
    slug: str
    kind: str
    operation: str
    state: JobState
    attempts: int
    max_attempts: int
    run_after: float
    created_at: float
    seq: int = 0
    lease_owner: str | None = None
    lease_expires: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    current_phase: str | None = None
    phases: dict[str, dict[str, float]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    """What a backup, restore or undelete job is asked to do."""

    def public(self) -> dict[str, Any]:
        """The operator view (no lease internals beyond who holds it)."""
        return {
            "id": self.id,
            "slug": self.slug,
            "kind": self.kind,
            "operation": self.operation,
            "state": self.state,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "run_after": self.run_after,
            "worker": self.lease_owner,
            "error": self.error,
            "current_phase": self.current_phase,
            "phases": self.phases,
            "outputs": self.outputs,
            "event_id": self.event_id,
            "params": self.params,
        }


@dataclass
class Tenant:
    """One tenant as the service knows it: its declaration, phase, outputs and last error."""

    slug: str
    plan: str
    organization_id: str
    declaration: str
    phase: TenantPhase
    created_at: float
    updated_at: float
    ready_at: float | None = None
    last_job_id: str | None = None
    last_error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """One line for people: the phase, and for a decommissioned tenant until when it can be undeleted."""
        until = self.outputs.get("archivedUntil") if self.phase == TenantPhase.DECOMMISSIONED else None
        return f"archived until {until}" if until else str(self.phase.value)

    def public(self, last_job: Job | None) -> dict[str, Any]:
        """The operator view, with the last job's per-phase timings."""
        return {
            "slug": self.slug,
            "plan": self.plan,
            "organization_id": self.organization_id,
            "phase": self.phase,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "ready_at": self.ready_at,
            "outputs": self.outputs,
            "status": self.status,
            "last_error": self.last_error,
            "last_job": last_job.id if last_job else None,
            "step": last_job.current_phase if last_job else None,
            "phase_timings": last_job.phases if last_job else {},
        }


@dataclass(frozen=True)
class Submitted:
    """The answer to a submission: the job that carries it, and whether this call created it."""

    job: Job
    created: bool


@dataclass(frozen=True)
class Outcome:
    """How a run ended: ``retry_in`` set means queue again that many seconds from now; ``ok`` False
    without it means failed for good."""

    ok: bool
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retry_in: float | None = None
    running: tuple[str, int] | None = None
    """After a successful run: the tenant's plan and how many of its VMs now run (recorded for usage)."""


class QueueError(Exception):
    """A request the queue refuses; ``status`` is the HTTP code it maps to."""

    status = 409


class NotFound(QueueError):
    """No such job or tenant."""

    status = 404


class Conflict(QueueError):
    """The request contradicts the current state (slug taken, job not queued...)."""

    status = 409


class JobQueue(Protocol):
    """The durable queue both the API and the workers use (SQLite or PostgreSQL behind it)."""

    def ping(self) -> None:
        """Raise if the database is unreachable."""

    def submit_signup(
        self,
        event_id: str,
        slug: str,
        plan: str,
        organization_id: str,
        declaration: str,
        max_attempts: int,
        hold: bool = False,
    ) -> Submitted:
        """Record a signup once: a repeated event or an identical tenant returns the existing job.

        ``hold``: the job is ``held`` and the tenant ``awaiting-payment`` until :meth:`release_held`.
        """

    def release_held(self, slug: str, plan: str, declaration: str) -> Job | None:
        """Queue the held signup of an ``awaiting-payment`` tenant with ``declaration`` (the paid one).

        None when the tenant is not awaiting payment (already released, never held); raise :class:`NotFound`.
        """

    def submit(self, slug: str, kind: JobKind, max_attempts: int, params: dict[str, Any] | None = None) -> Submitted:
        """Queue a reapply, decommission, backup, restore or undelete of a known tenant (an identical
        unfinished job is reused). Only a decommissioned tenant can be undeleted, and nothing else can.

        A tenant awaiting payment has nothing to apply (reapply: :class:`Conflict`); decommissioning it
        cancels its held signup and returns that job, with no engine run.
        """

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or held job; raise :class:`Conflict` if it is running or ended.

        A job that never ran leaves its tenant ``cancelled``; one waiting for a retry leaves it ``failed``
        (earlier attempts may have created resources: reapply or decommission it).
        """

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Lease the next runnable job: oldest first, one at a time per tenant, expired leases taken over."""

    def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease; False when this worker no longer holds it."""

    def record_phase(self, job_id: str, worker_id: str, phase: str) -> None:
        """Close the current phase of a running job and open ``phase``."""

    def finish(self, job_id: str, worker_id: str, outcome: Outcome) -> Job | None:
        """End a run (success, retry later or failure); None when the lease was lost meanwhile."""

    def get_job(self, job_id: str) -> Job:
        """One job; raise :class:`NotFound`."""

    def list_jobs(self, state: str | None = None, slug: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first."""

    def get_tenant(self, slug: str) -> Tenant:
        """One tenant; raise :class:`NotFound`."""

    def update_declaration(self, slug: str, plan: str, declaration: str) -> None:
        """Replace a known tenant's declaration and plan (the next run applies it); raise :class:`NotFound`."""

    def list_tenants(self) -> list[Tenant]:
        """All tenants, by slug."""

    def ages(self) -> dict[str, Any]:
        """How long the oldest runnable job has waited and each operation's longest run has lasted (seconds)."""

    def counts(self) -> dict[str, int]:
        """Number of jobs per state."""
