"""The queue's logic in portable SQL; :mod:`sqlite` and :mod:`postgres` supply connections and locking.

Ordering rule (what keeps tenants consistent): a job is runnable only when no older unfinished job of
the same tenant exists, so a tenant's jobs run strictly one after another in submission order (a
decommission can never overtake a retrying apply). A partial unique index on running jobs per tenant
is the safety net for two claimers racing.
"""
from __future__ import annotations

import json
import logging
import uuid
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from typing import Any, Iterable

from service.queue import usage
from service.queue.base import (AWAITING_PAYMENT, HELD, OPERATION, Conflict, Job, JobKind, NotFound, Outcome,
                                Submitted, Tenant, UNFINISHED)

_JOB_COLS = ("id, seq, slug, kind, operation, state, attempts, max_attempts, run_after, created_at, lease_owner, "
             "lease_expires, started_at, finished_at, error, current_phase, phases, outputs, event_id")
_TENANT_COLS = ("slug, plan, organization_id, declaration, phase, created_at, updated_at, ready_at, last_job_id, "
                "last_error, outputs")
_CLAIM = f"""SELECT {_JOB_COLS} FROM jobs j
 WHERE ((j.state = 'queued' AND j.run_after <= ?) OR (j.state = 'running' AND j.lease_expires < ?))
   AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.slug = j.slug AND o.state IN ('queued', 'running')
                   AND o.seq < j.seq)
 ORDER BY j.seq LIMIT 1"""
_EXHAUSTED = f"""SELECT {_JOB_COLS} FROM jobs j
 WHERE j.state = 'running' AND j.lease_expires < ? AND j.attempts >= j.max_attempts"""
SUBMIT_RETRIES = 3
# Re-signup allowed only for tenants that are gone or never started.
_REUSABLE_PHASES = ("decommissioned", "cancelled")
_LIVE = "phase NOT IN ('decommissioned', 'cancelled')"
"""Tenants that hold their slug and their Dokploy organization (see :meth:`SqlQueue.guard_organizations`)."""
_ORGANIZATION_INDEX = f"CREATE UNIQUE INDEX IF NOT EXISTS tenants_one_per_organization ON tenants (organization_id) WHERE {_LIVE}"
log = logging.getLogger(__name__)


class Tx:
    """A cursor inside one transaction, with ``?`` placeholders on every backend."""

    def __init__(self, cursor: Any, placeholder: str) -> None:
        self._cursor = cursor
        self._ph = placeholder

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; return its row count."""
        self._cursor.execute(sql.replace("?", self._ph) if self._ph != "?" else sql, tuple(params))
        return int(self._cursor.rowcount)

    def one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        """The first row of a query, as a dict."""
        self.execute(sql, params)
        row = self._cursor.fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Every row of a query, as dicts."""
        self.execute(sql, params)
        return [dict(r) for r in self._cursor.fetchall()]


def _job(row: dict[str, Any]) -> Job:
    row = dict(row)
    row["phases"] = json.loads(row["phases"] or "{}")
    row["outputs"] = json.loads(row["outputs"] or "{}")
    return Job(**row)


def _tenant(row: dict[str, Any]) -> Tenant:
    row = dict(row)
    row["outputs"] = json.loads(row["outputs"] or "{}")
    return Tenant(**row)


class SqlQueue(ABC):
    """:class:`~service.queue.base.JobQueue` over a SQL database."""

    claim_lock = ""
    """Appended to the claim query (``FOR UPDATE SKIP LOCKED`` on PostgreSQL)."""

    @abstractmethod
    def transaction(self, write: bool = False) -> AbstractContextManager[Tx]:
        """A transaction; ``write`` marks one that changes rows (SQLite takes its write lock up front)."""

    @abstractmethod
    def now(self, tx: Tx) -> float:
        """The time every worker agrees on (the database's clock where there is one), in epoch seconds."""

    def guard_organizations(self, tx: Tx) -> None:
        """One live tenant per Dokploy organization: a unique index backs the check signups make.

        Tenants created before the rule may share an organization; then the index waits (the signup check
        still refuses new sharers) and the log names them, so an operator decommissions one.
        """
        shared = tx.all(f"SELECT organization_id, MIN(slug) AS first, MAX(slug) AS last FROM tenants WHERE {_LIVE} "
                        "GROUP BY organization_id HAVING COUNT(*) > 1")
        for row in shared:
            log.error("tenants %r and %r share Dokploy organization %r: one tenant per organization; "
                      "decommission one of them", row["first"], row["last"], row["organization_id"])
        if not shared:
            tx.execute(_ORGANIZATION_INDEX)

    def ping(self) -> None:
        """Raise if the database is unreachable."""
        with self.transaction() as tx:
            tx.one("SELECT 1 AS ok")

    # -- submissions ---------------------------------------------------------------------------------------------
    def submit_signup(self, event_id: str, slug: str, plan: str, organization_id: str, declaration: str,
                      max_attempts: int, hold: bool = False) -> Submitted:
        """Record a signup once: a repeated event or an identical tenant returns the existing job.

        ``hold``: the job is ``held`` and the tenant ``awaiting-payment`` until :meth:`release_held`.
        """
        for attempt in range(SUBMIT_RETRIES):
            try:
                return self._submit_signup(event_id, slug, plan, organization_id, declaration, max_attempts, hold)
            except Exception as exc:  # a concurrent twin committed first: the retry sees it and deduplicates
                if not self.is_unique_violation(exc) or attempt == SUBMIT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _submit_signup(self, event_id: str, slug: str, plan: str, organization_id: str, declaration: str,
                       max_attempts: int, hold: bool = False) -> Submitted:
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            seen = tx.one("SELECT job_id FROM events WHERE event_id = ?", (event_id,))
            if seen is not None:
                return Submitted(self._get_job(tx, seen["job_id"]), created=False)
            tenant = tx.one(f"SELECT {_TENANT_COLS} FROM tenants WHERE slug = ?", (slug,))
            if tenant is not None and tenant["phase"] not in _REUSABLE_PHASES:
                same = tenant["plan"] == plan and tenant["organization_id"] == organization_id
                if not same or tenant["phase"] == "failed" or tenant["last_job_id"] is None:
                    raise Conflict(f"tenant {slug!r} already exists (phase {tenant['phase']}, plan {tenant['plan']})")
                tx.execute("INSERT INTO events (event_id, job_id, slug, created_at) VALUES (?, ?, ?, ?)",
                           (event_id, tenant["last_job_id"], slug, now))
                return Submitted(self._get_job(tx, tenant["last_job_id"]), created=False)
            holder = tx.one(f"SELECT slug FROM tenants WHERE organization_id = ? AND slug <> ? AND {_LIVE}",
                            (organization_id, slug))
            if holder is not None:
                raise Conflict(f"Dokploy organization {organization_id!r} already has tenant {holder['slug']!r} "
                               "(one tenant per organization)")
            job = self._insert_job(tx, slug, "signup", max_attempts, now, event_id, HELD if hold else "queued")
            phase = AWAITING_PAYMENT if hold else "queued"
            if tenant is None:
                tx.execute(f"INSERT INTO tenants ({_TENANT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL, '{{}}')",
                           (slug, plan, organization_id, declaration, phase, now, now, job.id))
            else:
                tx.execute("UPDATE tenants SET plan = ?, organization_id = ?, declaration = ?, phase = ?, "
                           "created_at = ?, updated_at = ?, ready_at = NULL, last_job_id = ?, last_error = NULL, "
                           "outputs = '{}' WHERE slug = ?",
                           (plan, organization_id, declaration, phase, now, now, job.id, slug))
            tx.execute("INSERT INTO events (event_id, job_id, slug, created_at) VALUES (?, ?, ?, ?)",
                       (event_id, job.id, slug, now))
            return Submitted(job, created=True)

    def release_held(self, slug: str, plan: str, declaration: str) -> Job | None:
        """Queue the held signup of an ``awaiting-payment`` tenant with ``declaration`` (the paid one).

        None when the tenant is not awaiting payment (already released, never held); raise :class:`NotFound`.
        The job's ``created_at`` becomes now, so signup-to-ready measures provisioning, not the wait for payment
        (the tenant keeps its signup time).
        """
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            tenant = tx.one("SELECT last_job_id FROM tenants WHERE slug = ?", (slug,))
            if tenant is None:
                raise NotFound(f"no tenant {slug!r}")
            released = tx.execute("UPDATE tenants SET plan = ?, declaration = ?, phase = 'queued', updated_at = ? "
                                  "WHERE slug = ? AND phase = ?", (plan, declaration, now, slug, AWAITING_PAYMENT))
            if released != 1:
                return None
            tx.execute("UPDATE jobs SET state = 'queued', run_after = ?, created_at = ? WHERE slug = ? AND state = ?",
                       (now, now, slug, HELD))
            return self._get_job(tx, tenant["last_job_id"])

    def submit(self, slug: str, kind: JobKind, max_attempts: int) -> Submitted:
        """Queue a reapply or decommission of a known tenant (an identical unfinished job is reused).

        A tenant awaiting payment has nothing to apply (reapply: :class:`Conflict`); decommissioning it
        cancels its held signup and returns that job, with no engine run.
        """
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            tenant = tx.one("SELECT phase, last_job_id FROM tenants WHERE slug = ?", (slug,))
            if tenant is None:
                raise NotFound(f"no tenant {slug!r}")
            if tenant["phase"] in _REUSABLE_PHASES:
                raise Conflict(f"tenant {slug!r} is {tenant['phase']}")
            if tenant["phase"] == AWAITING_PAYMENT:
                return self._drop_held(tx, slug, kind, tenant["last_job_id"], now)
            operation = OPERATION[kind]
            pending = tx.one(f"SELECT {_JOB_COLS} FROM jobs WHERE slug = ? AND operation = ? AND state = 'queued' "
                             "ORDER BY seq DESC LIMIT 1", (slug, operation))
            if pending is not None:
                return Submitted(_job(pending), created=False)
            if kind == "decommission":  # applies still waiting would only be undone
                tx.execute("UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'superseded by "
                           "decommission' WHERE slug = ? AND state = 'queued' AND operation = 'up'", (now, slug))
            job = self._insert_job(tx, slug, kind, max_attempts, now, None)
            tx.execute("UPDATE tenants SET last_job_id = ?, updated_at = ? WHERE slug = ?", (job.id, now, slug))
            return Submitted(job, created=True)

    def _drop_held(self, tx: Tx, slug: str, kind: JobKind, job_id: str, now: float) -> Submitted:
        """Decommission of a tenant awaiting payment: its held signup is cancelled; nothing was ever applied."""
        if kind != "decommission":
            raise Conflict(f"tenant {slug!r} is {AWAITING_PAYMENT}; nothing is applied until its payment arrives")
        tx.execute("UPDATE jobs SET state = 'cancelled', finished_at = ?, error = 'decommissioned before payment' "
                   "WHERE slug = ? AND state = ?", (now, slug, HELD))
        tx.execute("UPDATE tenants SET phase = 'decommissioned', updated_at = ? WHERE slug = ?", (now, slug))
        return Submitted(self._get_job(tx, job_id), created=False)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or held job; raise :class:`Conflict` if it already started or ended."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            job = self._get_job(tx, job_id)
            if job.state not in ("queued", HELD):
                raise Conflict(f"job {job_id} is {job.state}; "
                               "only queued jobs (or signups held for payment) can be cancelled")
            tx.execute("UPDATE jobs SET state = 'cancelled', finished_at = ? WHERE id = ?", (now, job_id))
            if job.attempts == 0:  # never ran: nothing was applied, the slug is free again
                tx.execute("UPDATE tenants SET phase = 'cancelled', updated_at = ? WHERE slug = ? "
                           "AND phase IN ('queued', ?) AND last_job_id = ?", (now, job.slug, AWAITING_PAYMENT, job_id))
            else:  # waiting for a retry: earlier attempts may have left resources, so say so and keep the tenant
                error = (f"job {job_id} ({job.operation}) was cancelled after {job.attempts} attempt(s); earlier "
                         "attempts may have left resources: reapply or decommission the tenant")
                tx.execute("UPDATE tenants SET phase = 'failed', last_error = ?, updated_at = ? WHERE slug = ? "
                           "AND phase IN ('provisioning', 'decommissioning') AND last_job_id = ?",
                           (error, now, job.slug, job_id))
            return self._get_job(tx, job_id)

    def _insert_job(self, tx: Tx, slug: str, kind: str, max_attempts: int, now: float, event_id: str | None,
                    state: str = "queued") -> Job:
        job_id = uuid.uuid4().hex
        tx.execute("INSERT INTO jobs (id, slug, kind, operation, state, attempts, max_attempts, run_after, created_at, "
                   "phases, outputs, event_id) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, '{}', '{}', ?)",
                   (job_id, slug, kind, OPERATION[kind], state, max_attempts, now, now, event_id))
        return self._get_job(tx, job_id)

    # -- workers -------------------------------------------------------------------------------------------------
    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        """Lease the next runnable job (oldest first, one at a time per tenant; expired leases taken over)."""
        try:
            with self.transaction(write=True) as tx:
                now = self.now(tx)
                for lost in tx.all(f"{_EXHAUSTED} {self.claim_lock}", (now,)):
                    self._give_up(tx, _job(lost), now)
                row = tx.one(f"{_CLAIM} {self.claim_lock}", (now, now))
                if row is None:
                    return None
                tx.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?, "
                           "lease_expires = ?, started_at = COALESCE(started_at, ?), current_phase = 'starting' "
                           "WHERE id = ?", (worker_id, now + lease_seconds, now, row["id"]))
                phase = "decommissioning" if row["operation"] == "destroy" else "provisioning"
                tx.execute("UPDATE tenants SET phase = ?, updated_at = ? WHERE slug = ? "
                           "AND (phase <> 'ready' OR ? = 'decommissioning')", (phase, now, row["slug"], phase))
                return self._get_job(tx, row["id"])
        except Exception as exc:  # a racing claimer won the per-tenant slot: nothing to do this round
            if self.is_unique_violation(exc):
                return None
            raise

    def _give_up(self, tx: Tx, job: Job, now: float) -> None:
        """Fail a job whose last allowed attempt lost its worker: a job that kills its worker is not run forever."""
        error = (f"the worker running attempt {job.attempts} of {job.max_attempts} stopped answering (lease "
                 f"expired) and no attempts are left; check the service log for a crash, then reapply or decommission")
        phases = json.dumps(_close_phase(job.phases, job.current_phase, now))
        tx.execute("UPDATE jobs SET state = 'failed', finished_at = ?, error = ?, phases = ?, current_phase = NULL, "
                   "lease_expires = NULL WHERE id = ?", (now, error, phases, job.id))
        self._settle_tenant(tx, job, Outcome(False, error=error), now)

    def is_unique_violation(self, exc: Exception) -> bool:
        """Whether ``exc`` is the database refusing a duplicate key."""
        return False

    def heartbeat(self, job_id: str, worker_id: str, lease_seconds: float) -> bool:
        """Extend the lease; False when this worker no longer holds it."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            return tx.execute("UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ? AND state = 'running'",
                              (now + lease_seconds, job_id, worker_id)) == 1

    def record_phase(self, job_id: str, worker_id: str, phase: str) -> None:
        """Close the current phase of a running job and open ``phase``."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            row = tx.one("SELECT phases, current_phase FROM jobs WHERE id = ? AND lease_owner = ? AND state = 'running'",
                         (job_id, worker_id))
            if row is None or row["current_phase"] == phase:
                return
            phases = _close_phase(json.loads(row["phases"] or "{}"), row["current_phase"], now)
            phases.setdefault(phase, {"started": now, "seconds": 0.0})["started"] = now
            tx.execute("UPDATE jobs SET phases = ?, current_phase = ? WHERE id = ?", (json.dumps(phases), phase, job_id))

    def finish(self, job_id: str, worker_id: str, outcome: Outcome) -> Job | None:
        """End a run (success, retry later or failure); None when the lease was lost meanwhile."""
        with self.transaction(write=True) as tx:
            now = self.now(tx)
            row = tx.one(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ? AND lease_owner = ? AND state = 'running'",
                         (job_id, worker_id))
            if row is None:
                return None
            job = _job(row)
            phases = json.dumps(_close_phase(job.phases, job.current_phase, now))
            if outcome.retry_in is not None:
                tx.execute("UPDATE jobs SET state = 'queued', run_after = ?, lease_owner = NULL, lease_expires = NULL, "
                           "error = ?, phases = ? WHERE id = ?", (now + outcome.retry_in, outcome.error, phases, job_id))
                tx.execute("UPDATE tenants SET last_error = ?, updated_at = ? WHERE slug = ?", (outcome.error, now, job.slug))
            else:
                state = "succeeded" if outcome.ok else "failed"
                tx.execute("UPDATE jobs SET state = ?, finished_at = ?, error = ?, outputs = ?, phases = ?, "
                           "current_phase = NULL, lease_expires = NULL WHERE id = ?",
                           (state, now, outcome.error, json.dumps(outcome.outputs), phases, job_id))
                self._settle_tenant(tx, job, outcome, now)
                if outcome.ok and outcome.running is not None:
                    usage.record_change(tx, job.id, job.slug, now, *outcome.running)
            return self._get_job(tx, job_id)

    def _settle_tenant(self, tx: Tx, job: Job, outcome: Outcome, now: float) -> None:
        if not outcome.ok:
            tx.execute("UPDATE tenants SET phase = 'failed', last_error = ?, updated_at = ? WHERE slug = ?",
                       (outcome.error, now, job.slug))
        elif job.operation == "destroy":
            tx.execute("UPDATE tenants SET phase = 'decommissioned', outputs = '{}', last_error = NULL, updated_at = ? "
                       "WHERE slug = ?", (now, job.slug))
        else:
            tx.execute("UPDATE tenants SET phase = 'ready', outputs = ?, last_error = NULL, updated_at = ?, "
                       "ready_at = COALESCE(ready_at, ?) WHERE slug = ?", (json.dumps(outcome.outputs), now, now, job.slug))

    # -- reads ---------------------------------------------------------------------------------------------------
    def _get_job(self, tx: Tx, job_id: str) -> Job:
        row = tx.one(f"SELECT {_JOB_COLS} FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise NotFound(f"no job {job_id!r}")
        return _job(row)

    def get_job(self, job_id: str) -> Job:
        """One job; raise :class:`NotFound`."""
        with self.transaction() as tx:
            return self._get_job(tx, job_id)

    def list_jobs(self, state: str | None = None, slug: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs, newest first, optionally of one state and/or tenant."""
        where, params = ["1 = 1"], []
        if state is not None:
            where.append("state = ?")
            params.append(state)
        if slug is not None:
            where.append("slug = ?")
            params.append(slug)
        with self.transaction() as tx:
            rows = tx.all(f"SELECT {_JOB_COLS} FROM jobs WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                          (*params, int(limit)))
        return [_job(r) for r in rows]

    def get_tenant(self, slug: str) -> Tenant:
        """One tenant; raise :class:`NotFound`."""
        with self.transaction() as tx:
            row = tx.one(f"SELECT {_TENANT_COLS} FROM tenants WHERE slug = ?", (slug,))
        if row is None:
            raise NotFound(f"no tenant {slug!r}")
        return _tenant(row)

    def update_declaration(self, slug: str, plan: str, declaration: str) -> None:
        with self.transaction(write=True) as tx:
            if not tx.execute("UPDATE tenants SET declaration = ?, plan = ?, updated_at = ? WHERE slug = ?",
                              (declaration, plan, self.now(tx), slug)):
                raise NotFound(f"tenant {slug!r} not found")

    def list_tenants(self) -> list[Tenant]:
        """All tenants, by slug."""
        with self.transaction() as tx:
            return [_tenant(r) for r in tx.all(f"SELECT {_TENANT_COLS} FROM tenants ORDER BY slug")]

    def counts(self) -> dict[str, int]:
        """Number of jobs per state (every state present, zero if none)."""
        with self.transaction() as tx:
            rows = tx.all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        counts = {s: 0 for s in (HELD, *UNFINISHED, "succeeded", "failed", "cancelled")}
        counts.update({r["state"]: int(r["n"]) for r in rows})
        return counts


def _close_phase(phases: dict[str, dict[str, float]], current: str | None, now: float) -> dict[str, dict[str, float]]:
    """Add the time since ``current`` started to its total."""
    entry = phases.get(current or "")
    if entry is not None and entry.get("started") is not None:
        entry["seconds"] = round(entry.get("seconds", 0.0) + max(0.0, now - entry["started"]), 3)
        entry["started"] = None  # type: ignore[assignment]
    return phases
