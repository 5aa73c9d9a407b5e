"""The queue's logic in SQLAlchemy Core, the same on SQLite and PostgreSQL (:mod:`storage` supplies both).

Ordering rule (what keeps tenants consistent): a job is runnable only when no older unfinished job of
the same tenant exists, so a tenant's jobs run strictly one after another in submission order (a
decommission can never overtake a retrying apply). A partial unique index on running jobs per tenant
is the safety net for two claimers racing.

Locking: every write is one transaction. On SQLite it takes the write lock at ``BEGIN`` (``BEGIN
IMMEDIATE``), so the processes sharing the file serialise exactly where it matters; on PostgreSQL the
claim locks the rows it reads (``FOR UPDATE OF j SKIP LOCKED``) so concurrent claimers skip each other.
"""

from __future__ import annotations

import json
import logging
import uuid
from contextlib import AbstractContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from clients.retry import RetryPolicy
from service.queue import usage
from service.queue.base import (
    AWAITING_PAYMENT,
    DATA_OPERATIONS,
    HELD,
    OPERATION,
    REUSABLE_PHASES,
    UNFINISHED,
    Conflict,
    Job,
    JobKind,
    JobState,
    NotFound,
    Outcome,
    Submitted,
    Tenant,
    TenantPhase,
)
from storage import Database, is_unique_violation
from storage.schema.queue import LIVE_TENANT, events, jobs, one_tenant_per_organization, tenants

SUBMIT_RETRIES = 3
SUBMIT_RETRY = RetryPolicy(attempts=SUBMIT_RETRIES, initial=0.0, maximum=0.0)
"""A concurrent twin committed first: retrying at once sees its rows and deduplicates."""
log = logging.getLogger(__name__)


def _job(row: RowMapping) -> Job:
    fields = dict(row)
    fields["state"] = JobState(fields["state"])
    fields["phases"] = json.loads(fields["phases"] or "{}")
    fields["outputs"] = json.loads(fields["outputs"] or "{}")
    fields["params"] = json.loads(fields.get("params") or "{}")
    return Job(**fields)


def _tenant(row: RowMapping) -> Tenant:
    fields = dict(row)
    fields["phase"] = TenantPhase(fields["phase"])
    fields["outputs"] = json.loads(fields["outputs"] or "{}")
    return Tenant(**fields)


def _runnable_query(now: float) -> sa.Select[Any]:
    """The oldest runnable job, locked (queued and due, or running with a lapsed lease; no older unfinished
    job of its tenant)."""
    j, older = jobs.alias("j"), jobs.alias("o")
    waits_for_older = sa.exists().where(older.c.slug == j.c.slug, older.c.state.in_(UNFINISHED), older.c.seq < j.c.seq)
    due = sa.or_(
        sa.and_(j.c.state == JobState.QUEUED, j.c.run_after <= now),
        sa.and_(j.c.state == JobState.RUNNING, j.c.lease_expires < now),
    )
    return sa.select(j).where(due, ~waits_for_older).order_by(j.c.seq).limit(1).with_for_update(of=j, skip_locked=True)


def _exhausted_query(now: float) -> sa.Select[Any]:
    """Running jobs whose lease lapsed on their last allowed attempt, locked."""
    j = jobs.alias("j")
    return (
        sa.select(j)
        .where(j.c.state == JobState.RUNNING, j.c.lease_expires < now, j.c.attempts >= j.c.max_attempts)
        .with_for_update(of=j, skip_locked=True)
    )


class SqlQueue:
    """:class:`~service.queue.base.JobQueue` over a :class:`storage.Database` of the ``queue`` schema."""

    def __init__(self, database: Database) -> None:
        self.database = database
        with self.transaction(write=True) as tx:
            self.guard_organizations(tx)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<location hidden>)"

    def transaction(self, write: bool = False) -> AbstractContextManager[Connection]:
        """A transaction; ``write`` marks one that changes rows (SQLite takes its write lock up front)."""
        return self.database.transaction(write)

    def now(self, tx: Connection) -> float:
        """The time every worker agrees on (the database's clock where there is one), in epoch seconds."""
        return self.database.now(tx)

    def guard_organizations(self, tx: Connection) -> None:
        """One live tenant per Dokploy organization: a unique index backs the check signups make.

        Tenants created before the rule may share an organization; then the index waits (the signup check
        still refuses new sharers) and the log names them, so an operator decommissions one.
        """
        shared = tx.execute(
            sa.select(
                tenants.c.organization_id,
                sa.func.min(tenants.c.slug).label("first"),
                sa.func.max(tenants.c.slug).label("last"),
            )
            .where(LIVE_TENANT)
            .group_by(tenants.c.organization_id)
            .having(sa.func.count() > 1)
        ).all()
        for row in shared:
            log.error(
                "tenants %r and %r share Dokploy organization %r: one tenant per organization; "
                "decommission one of them",
                row.first,
                row.last,
                row.organization_id,
            )
        if not shared:
            one_tenant_per_organization.create(tx, checkfirst=True)

    def is_unique_violation(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the database refusing a duplicate key."""
        return is_unique_violation(exc)

    def ping(self) -> None:
        """Raise if the database is unreachable."""
        with self.transaction() as tx:
            tx.execute(sa.select(sa.literal(1)))

    # -- submissions ---------------------------------------------------------------------------------------------
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
        return SUBMIT_RETRY.call(
            lambda: self._submit_signup(event_id, slug, plan, organization_id, declaration, max_attempts, hold),
            self.is_unique_violation,
        )

    def _submit_signup(
        self,
        event_id: str,
        slug: str,
        plan: str,
        organization_id: str,
        declaration: str,
        max_attempts: int,
        hold: bool = False,
    ) -> Submitted:
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            seen = tx.execute(sa.select(events.c.job_id).where(events.c.event_id == event_id)).scalar()
            if seen is not None:
                return Submitted(self._get_job(tx, seen), created=False)
            tenant = tx.execute(sa.select(tenants).where(tenants.c.slug == slug)).mappings().first()
            if tenant is not None and tenant["phase"] not in REUSABLE_PHASES:
                same = tenant["plan"] == plan and tenant["organization_id"] == organization_id
                if not same or tenant["phase"] == TenantPhase.FAILED or tenant["last_job_id"] is None:
                    raise Conflict(f"tenant {slug!r} already exists (phase {tenant['phase']}, plan {tenant['plan']})")
                self._record_event(tx, event_id, tenant["last_job_id"], slug, now)
                return Submitted(self._get_job(tx, tenant["last_job_id"]), created=False)
            holder = tx.execute(
                sa.select(tenants.c.slug).where(
                    tenants.c.organization_id == organization_id, tenants.c.slug != slug, LIVE_TENANT
                )
            ).scalar()
            if holder is not None:
                raise Conflict(
                    f"Dokploy organization {organization_id!r} already has tenant {holder!r} "
                    "(one tenant per organization)"
                )
            job = self._insert_job(
                tx, slug, "signup", max_attempts, now, event_id, JobState.HELD if hold else JobState.QUEUED
            )
            declared = {
                "plan": plan,
                "organization_id": organization_id,
                "declaration": declaration,
                "phase": AWAITING_PAYMENT if hold else TenantPhase.QUEUED,
                "created_at": now,
                "updated_at": now,
                "ready_at": None,
                "last_job_id": job.id,
                "last_error": None,
                "outputs": "{}",
            }
            if tenant is None:
                tx.execute(sa.insert(tenants).values(slug=slug, **declared))
            else:
                tx.execute(sa.update(tenants).where(tenants.c.slug == slug).values(**declared))
            self._record_event(tx, event_id, job.id, slug, now)
            return Submitted(job, created=True)

    @staticmethod
    def _record_event(tx: Connection, event_id: str, job_id: str, slug: str, now: float) -> None:
        tx.execute(sa.insert(events).values(event_id=event_id, job_id=job_id, slug=slug, created_at=now))

    def release_held(self, slug: str, plan: str, declaration: str) -> Job | None:
        """Queue the held signup of an ``awaiting-payment`` tenant with ``declaration`` (the paid one).

        None when the tenant is not awaiting payment (already released, never held); raise :class:`NotFound`.
        The job's ``created_at`` becomes now, so signup-to-ready measures provisioning, not the wait for payment
        (the tenant keeps its signup time).
        """
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            last_job_id = self._last_job_id(tx, slug)
            released = tx.execute(
                sa.update(tenants)
                .where(tenants.c.slug == slug, tenants.c.phase == AWAITING_PAYMENT)
                .values(plan=plan, declaration=declaration, phase=TenantPhase.QUEUED, updated_at=now)
            )
            if released.rowcount != 1:
                return None
            tx.execute(
                sa.update(jobs)
                .where(jobs.c.slug == slug, jobs.c.state == HELD)
                .values(state=JobState.QUEUED, run_after=now, created_at=now)
            )
            return self._get_job(tx, last_job_id)

    def submit(self, slug: str, kind: JobKind, max_attempts: int, params: dict[str, Any] | None = None) -> Submitted:
        """Queue a reapply, decommission, backup, restore or undelete of a known tenant (an identical
        unfinished job is reused).

        A tenant awaiting payment has nothing to apply (reapply: :class:`Conflict`); decommissioning it
        cancels its held signup and returns that job, with no engine run. Only a decommissioned tenant can
        be undeleted, and nothing else can be done to it; backups and restores need a ready tenant.
        """
        text = json.dumps(params or {}, sort_keys=True)
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            tenant = tx.execute(sa.select(tenants.c.phase, tenants.c.last_job_id).where(tenants.c.slug == slug)).first()
            if tenant is None:
                raise NotFound(f"no tenant {slug!r}")
            if kind == "undelete" and tenant.phase != TenantPhase.DECOMMISSIONED:
                raise Conflict(f"tenant {slug!r} is {tenant.phase}; only a decommissioned tenant can be undeleted")
            if kind != "undelete" and tenant.phase in REUSABLE_PHASES:
                raise Conflict(f"tenant {slug!r} is {tenant.phase}")
            if tenant.phase == AWAITING_PAYMENT:
                return self._drop_held(tx, slug, kind, tenant.last_job_id, now)
            if (kind in DATA_OPERATIONS or kind == "rotate-keys") and tenant.phase != TenantPhase.READY:
                raise Conflict(f"tenant {slug!r} is {tenant.phase}; a {kind} needs a ready tenant")
            operation = OPERATION[kind]
            pending = (
                tx.execute(
                    sa.select(jobs)
                    .where(
                        jobs.c.slug == slug,
                        jobs.c.operation == operation,
                        jobs.c.state == JobState.QUEUED,
                        jobs.c.params == text,
                    )
                    .order_by(jobs.c.seq.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if pending is not None:
                return Submitted(_job(pending), created=False)
            if kind == "decommission":  # applies still waiting would only be undone
                tx.execute(
                    sa.update(jobs)
                    .where(jobs.c.slug == slug, jobs.c.state == JobState.QUEUED, jobs.c.operation == "up")
                    .values(state=JobState.CANCELLED, finished_at=now, error="superseded by decommission")
                )
            job = self._insert_job(tx, slug, kind, max_attempts, now, None, params=text)
            tx.execute(sa.update(tenants).where(tenants.c.slug == slug).values(last_job_id=job.id, updated_at=now))
            return Submitted(job, created=True)

    def _drop_held(self, tx: Connection, slug: str, kind: JobKind, job_id: str, now: float) -> Submitted:
        """Decommission of a tenant awaiting payment: its held signup is cancelled; nothing was ever applied."""
        if kind != "decommission":
            raise Conflict(f"tenant {slug!r} is {AWAITING_PAYMENT}; nothing is applied until its payment arrives")
        tx.execute(
            sa.update(jobs)
            .where(jobs.c.slug == slug, jobs.c.state == HELD)
            .values(state=JobState.CANCELLED, finished_at=now, error="decommissioned before payment")
        )
        tx.execute(
            sa.update(tenants).where(tenants.c.slug == slug).values(phase=TenantPhase.DECOMMISSIONED, updated_at=now)
        )
        return Submitted(self._get_job(tx, job_id), created=False)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or held job; raise :class:`Conflict` if it already started or ended."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            job = self._get_job(tx, job_id)
            if job.state not in (JobState.QUEUED, HELD):
                raise Conflict(
                    f"job {job_id} is {job.state}; only queued jobs (or signups held for payment) can be cancelled"
                )
            cancelled = tx.execute(  # guarded: a worker may have claimed the job since it was read
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.state.in_((JobState.QUEUED, HELD)))
                .values(state=JobState.CANCELLED, finished_at=now)
            )
            if cancelled.rowcount != 1:
                raise Conflict(f"job {job_id} started meanwhile; only queued jobs can be cancelled")
            its_tenant = sa.and_(tenants.c.slug == job.slug, tenants.c.last_job_id == job_id)
            if job.attempts == 0:  # never ran: nothing was applied, the slug is free again
                tx.execute(
                    sa.update(tenants)
                    .where(its_tenant, tenants.c.phase.in_((TenantPhase.QUEUED, AWAITING_PAYMENT)))
                    .values(phase=TenantPhase.CANCELLED, updated_at=now)
                )
            else:  # waiting for a retry: earlier attempts may have left resources, so say so and keep the tenant
                error = (
                    f"job {job_id} ({job.operation}) was cancelled after {job.attempts} attempt(s); earlier "
                    "attempts may have left resources: reapply or decommission the tenant"
                )
                tx.execute(
                    sa.update(tenants)
                    .where(its_tenant, tenants.c.phase.in_((TenantPhase.PROVISIONING, TenantPhase.DECOMMISSIONING)))
                    .values(phase=TenantPhase.FAILED, last_error=error, updated_at=now)
                )
            return self._get_job(tx, job_id)

    def _insert_job(
        self,
        tx: Connection,
        slug: str,
        kind: str,
        max_attempts: int,
        now: float,
        event_id: str | None,
        state: JobState = JobState.QUEUED,
        params: str = "{}",
    ) -> Job:
        job_id = uuid.uuid4().hex
        tx.execute(
            sa.insert(jobs).values(
                id=job_id,
                slug=slug,
                kind=kind,
                operation=OPERATION[kind],
                state=state,
                attempts=0,
                max_attempts=max_attempts,
                run_after=now,
                created_at=now,
                phases="{}",
                outputs="{}",
                event_id=event_id,
                params=params,
            )
        )
        return self._get_job(tx, job_id)

    # -- workers -------------------------------------------------------------------------------------------------
    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Lease the next runnable job (oldest first, one at a time per tenant; expired leases taken over)."""
        try:
            with self.transaction(write=True) as tx:
                now = self.now(tx)
                for lost in tx.execute(_exhausted_query(now)).mappings().all():
                    self._give_up(tx, _job(lost), now)
                row = tx.execute(_runnable_query(now)).mappings().first()
                if row is None:
                    return None
                tx.execute(
                    sa.update(jobs)
                    .where(jobs.c.id == row["id"])
                    .values(
                        state=JobState.RUNNING,
                        attempts=jobs.c.attempts + 1,
                        lease_owner=worker_id,
                        lease_expires=now + lease_seconds,
                        started_at=sa.func.coalesce(jobs.c.started_at, now),
                        current_phase="starting",
                    )
                )
                phase = TenantPhase.DECOMMISSIONING if row["operation"] == "destroy" else TenantPhase.PROVISIONING
                settles = [tenants.c.slug == row["slug"]]
                if phase != TenantPhase.DECOMMISSIONING:  # a reapply of a ready tenant keeps it ready
                    settles.append(tenants.c.phase != TenantPhase.READY)
                if row["operation"] not in DATA_OPERATIONS:  # a backup or restore leaves the phase alone
                    tx.execute(sa.update(tenants).where(*settles).values(phase=phase, updated_at=now))
                return self._get_job(tx, row["id"])
        except Exception as exc:  # a racing claimer won the per-tenant slot: nothing to do this round
            if self.is_unique_violation(exc):
                return None
            raise

    def _give_up(self, tx: Connection, job: Job, now: float) -> None:
        """Fail a job whose last allowed attempt lost its worker: a job that kills its worker is not run forever."""
        error = (
            f"the worker running attempt {job.attempts} of {job.max_attempts} stopped answering (lease "
            f"expired) and no attempts are left; check the service log for a crash, then reapply or decommission"
        )
        phases = json.dumps(_close_phase(job.phases, job.current_phase, now))
        tx.execute(
            sa.update(jobs)
            .where(jobs.c.id == job.id)
            .values(
                state=JobState.FAILED,
                finished_at=now,
                error=error,
                phases=phases,
                current_phase=None,
                lease_expires=None,
            )
        )
        self._settle_tenant(tx, job, Outcome(False, error=error), now)

    def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease; False when this worker no longer holds it."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            result = tx.execute(
                sa.update(jobs).where(_leased(job_id, worker_id)).values(lease_expires=now + lease_seconds)
            )
            return result.rowcount == 1

    def record_phase(self, job_id: str, worker_id: str, phase: str) -> None:
        """Close the current phase of a running job and open ``phase``."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            row = tx.execute(
                sa.select(jobs.c.phases, jobs.c.current_phase).where(_leased(job_id, worker_id)).with_for_update()
            ).first()
            if row is None or row.current_phase == phase:
                return
            phases = _close_phase(json.loads(row.phases or "{}"), row.current_phase, now)
            phases.setdefault(phase, {"started": now, "seconds": 0.0})["started"] = now
            tx.execute(
                sa.update(jobs).where(jobs.c.id == job_id).values(phases=json.dumps(phases), current_phase=phase)
            )

    def finish(self, job_id: str, worker_id: str, outcome: Outcome) -> Job | None:
        """End a run (success, retry later or failure); None when the lease was lost meanwhile."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            # Locked until commit: a claimer (SKIP LOCKED) cannot take the job over between this read and the
            # write below, which would otherwise overwrite its claim (PostgreSQL; SQLite writes one at a time).
            row = tx.execute(sa.select(jobs).where(_leased(job_id, worker_id)).with_for_update()).mappings().first()
            if row is None:
                return None
            job = _job(row)
            phases = json.dumps(_close_phase(job.phases, job.current_phase, now))
            if outcome.retry_in is not None:
                tx.execute(
                    sa.update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(
                        state=JobState.QUEUED,
                        run_after=now + outcome.retry_in,
                        lease_owner=None,
                        lease_expires=None,
                        error=outcome.error,
                        phases=phases,
                    )
                )
                tx.execute(
                    sa.update(tenants)
                    .where(tenants.c.slug == job.slug)
                    .values(last_error=outcome.error, updated_at=now)
                )
            else:
                tx.execute(
                    sa.update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(
                        state=JobState.SUCCEEDED if outcome.ok else JobState.FAILED,
                        finished_at=now,
                        error=outcome.error,
                        outputs=json.dumps(outcome.outputs),
                        phases=phases,
                        current_phase=None,
                        lease_expires=None,
                    )
                )
                self._settle_tenant(tx, job, outcome, now)
                if outcome.ok and outcome.running is not None:
                    usage.record_change(tx, job.id, job.slug, now, *outcome.running)
            return self._get_job(tx, job_id)

    def _settle_tenant(self, tx: Connection, job: Job, outcome: Outcome, now: float) -> None:
        tenant = sa.update(tenants).where(tenants.c.slug == job.slug)
        if job.operation in DATA_OPERATIONS:  # the tenant stays as it is; a failure is its last error
            tx.execute(tenant.values(last_error=None if outcome.ok else outcome.error, updated_at=now))
        elif not outcome.ok:
            tx.execute(tenant.values(phase=TenantPhase.FAILED, last_error=outcome.error, updated_at=now))
        elif job.operation == "destroy":  # what was archived, and until when (the tenant's status shows it)
            archived = {k: v for k, v in outcome.outputs.items() if k in ("archivedUntil", "archives")}
            tx.execute(
                tenant.values(
                    phase=TenantPhase.DECOMMISSIONED, outputs=json.dumps(archived), last_error=None, updated_at=now
                )
            )
        else:
            tx.execute(
                tenant.values(
                    phase=TenantPhase.READY,
                    outputs=json.dumps(outcome.outputs),
                    last_error=None,
                    updated_at=now,
                    ready_at=sa.func.coalesce(tenants.c.ready_at, now),
                )
            )

    # -- reads ---------------------------------------------------------------------------------------------------
    @staticmethod
    def _get_job(tx: Connection, job_id: str) -> Job:
        row = tx.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return _job(row)

    @staticmethod
    def _last_job_id(tx: Connection, slug: str) -> str:
        found = tx.execute(sa.select(tenants.c.last_job_id).where(tenants.c.slug == slug)).first()
        if found is None:
            raise NotFound(f"no tenant {slug!r}")
        return str(found.last_job_id)

    def get_job(self, job_id: str) -> Job:
        """One job; raise :class:`NotFound`."""
        with self.transaction() as tx:
            return self._get_job(tx, job_id)

    def list_jobs(self, state: str | None = None, slug: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first, optionally of one state and/or tenant."""
        query = sa.select(jobs).order_by(jobs.c.seq.desc()).limit(int(limit))
        if state is not None:
            query = query.where(jobs.c.state == state)
        if slug is not None:
            query = query.where(jobs.c.slug == slug)
        with self.transaction() as tx:
            rows = tx.execute(query).mappings().all()
        return [_job(r) for r in rows]

    def get_tenant(self, slug: str) -> Tenant:
        """One tenant; raise :class:`NotFound`."""
        with self.transaction() as tx:
            row = tx.execute(sa.select(tenants).where(tenants.c.slug == slug)).mappings().first()
        if row is None:
            raise NotFound(f"no tenant {slug!r}")
        return _tenant(row)

    def update_declaration(self, slug: str, plan: str, declaration: str) -> None:
        """Replace a known tenant's declaration and plan (the next run applies it); raise :class:`NotFound`."""
        with self.transaction(write=True) as tx:
            updated = tx.execute(
                sa.update(tenants)
                .where(tenants.c.slug == slug)
                .values(declaration=declaration, plan=plan, updated_at=self.now(tx))
            )
            if not updated.rowcount:
                raise NotFound(f"tenant {slug!r} not found")

    def list_tenants(self) -> list[Tenant]:
        """All tenants, by slug."""
        with self.transaction() as tx:
            return [_tenant(r) for r in tx.execute(sa.select(tenants).order_by(tenants.c.slug)).mappings()]

    def ages(self) -> dict[str, Any]:
        """``oldest_runnable``: seconds the oldest queued job due now has waited (0 when none);
        ``running``: per operation, seconds since its longest-running job first started."""
        with self.transaction() as tx:
            now = self.now(tx)
            oldest = tx.execute(
                sa.select(sa.func.min(jobs.c.created_at)).where(
                    jobs.c.state == JobState.QUEUED, jobs.c.run_after <= now
                )
            ).scalar()
            running = tx.execute(
                sa.select(jobs.c.operation, sa.func.min(jobs.c.started_at).label("first"))
                .where(jobs.c.state == JobState.RUNNING)
                .group_by(jobs.c.operation)
            ).all()
        return {
            "oldest_runnable": max(0.0, now - float(oldest)) if oldest is not None else 0.0,
            "running": {row.operation: max(0.0, now - float(row.first or now)) for row in running},
        }

    def counts(self) -> dict[str, int]:
        """Number of jobs per state (every state present, zero if none)."""
        with self.transaction() as tx:
            rows = tx.execute(sa.select(jobs.c.state, sa.func.count().label("n")).group_by(jobs.c.state)).all()
        counts = {state.value: 0 for state in JobState}
        counts.update({row.state: int(row.n) for row in rows})
        return counts


def _leased(job_id: str, worker_id: str) -> sa.ColumnElement[bool]:
    """The job while ``worker_id`` still holds its lease."""
    return sa.and_(jobs.c.id == job_id, jobs.c.lease_owner == worker_id, jobs.c.state == JobState.RUNNING)


def _close_phase(phases: dict[str, dict[str, float]], current: str | None, now: float) -> dict[str, dict[str, float]]:
    """Add the time since ``current`` started to its total."""
    entry = phases.get(current or "")
    if entry is not None and entry.get("started") is not None:
        entry["seconds"] = round(entry.get("seconds", 0.0) + max(0.0, now - entry["started"]), 3)
        entry["started"] = None  # type: ignore[assignment]
    return phases
