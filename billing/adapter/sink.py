"""Billing actions as service jobs: :class:`QueueActionSink` implements ``billing.adapter.store.ActionSink``.

Every declaration change goes through :func:`service.declare.redeclare` (the signups' own checks) and is
stored only through the queue's interface (``update_declaration``, ``release_held``).

* Provision / Resize: the tenant's declaration gets the paid plan and server count (state active);
  an apply (``reapply`` job) is queued. A signup held for payment (``awaiting-payment``) is released
  instead: its own job is queued with the paid plan and servers (the paid plan wins over the signup's).
  Tenants are declared only by signups (where slug and organization are checked), never by a checkout:
  a provision for a tenant that never signed up is logged and dropped.
* Suspend: a timer is set for ``not_before`` (the end of the grace period); :meth:`run_due` sets
  ``state: suspended`` and queues the apply once it passes. Resume before that cancels the timer;
  after it, ``state: active`` is declared and applied again.
* Decommission: cancels any timer and queues the ``decommission`` job (destroy + remove).

Every method is idempotent: an unchanged declaration queues nothing, a repeated timer is one row.
Refusals that retrying cannot fix (over quota, unknown tenant) are logged and the action is dropped,
so one bad tenant never blocks the outbox; queue outages raise, and the outbox retries the action.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from billing.adapter.store import SuspensionTimers
from billing.decide import Decommission, Provision, Resize, Resume, Suspend
from components.environment import Environment
from components.spec import SpecErrors
from service.declare import DeclarationRefused, redeclare, stored_spec
from service.queue import AWAITING_PAYMENT, Conflict, JobQueue, NotFound

if TYPE_CHECKING:
    from provisioning.fleet_db import FleetDatabase

log = logging.getLogger(__name__)


class QueueActionSink:
    """Turns billing actions into declaration changes and jobs on the service's queue."""

    ACTOR = "billing:stripe-webhook"

    def __init__(self, queue: JobQueue, environment: Environment, timers: SuspensionTimers, max_attempts: int) -> None:
        self.queue, self.environment, self.timers, self.max_attempts = queue, environment, timers, max_attempts
        self.audit: FleetDatabase | None = None
        """Where billing-driven changes are recorded (the API sets the fleet database's trail)."""

    def _audit(self, action: str, slug: str, outcome: str, detail: str) -> None:
        if self.audit is None:
            return
        try:
            self.audit.audit(self.ACTOR, action, f"tenant {slug}", outcome, tenant=slug, detail=detail)
        except Exception as exc:  # the change happened: say loudly that its record is missing
            log.error("audit record %s of %s could not be written (%s: %s)", action, slug, type(exc).__name__, exc)

    def provision(self, action: Provision) -> None:
        """Release a held signup, or declare the paid plan (active) and apply."""
        try:
            phase = self.queue.get_tenant(action.tenant).phase
        except NotFound:
            log.error("billing: no signed-up tenant %r; provision dropped (sign the tenant up first)", action.tenant)
            return
        if phase == AWAITING_PAYMENT and self._release(action):
            return
        self._declare(action.tenant, plan=action.plan, servers=action.servers, state="active")

    def _release(self, action: Provision) -> bool:
        """Queue the held signup with the paid plan and servers; False if it was no longer held."""
        try:
            paid = redeclare(
                self.environment,
                stored_spec(self.queue, self.environment, action.tenant),
                plan=action.plan,
                servers=action.servers,
                state="active",
            )
        except (DeclarationRefused, SpecErrors) as exc:
            log.error(
                "billing: paid tenant %s stays awaiting payment, its paid declaration is refused: %s",
                action.tenant,
                exc,
            )
            return True
        job = self.queue.release_held(action.tenant, paid.spec.plan, paid.text)
        if job is not None:
            self._audit(
                "billing.release", action.tenant, "queued", f"paid {paid.spec.plan} x{paid.spec.servers}, job {job.id}"
            )
            log.info(
                "billing: payment released %s (%s x%d) as job %s",
                action.tenant,
                paid.spec.plan,
                paid.spec.servers,
                job.id,
            )
        return job is not None

    def resize(self, action: Resize) -> None:
        """Declare the new plan and server count and apply (fewer servers destroy the surplus)."""
        self._declare(action.tenant, plan=action.plan, servers=action.servers)

    def suspend(self, action: Suspend) -> None:
        """Arm the suspension timer; :meth:`run_due` carries it out after ``not_before``."""
        self.timers.arm(action.tenant, action.not_before, action.reason)
        self._audit(
            "billing.suspend-armed", action.tenant, "armed", f"not before {action.not_before:.0f}: {action.reason}"
        )

    def resume(self, action: Resume) -> None:
        """Cancel a pending suspension, or undo one that happened."""
        self.timers.disarm(action.tenant)
        self._declare(action.tenant, state="active")

    def decommission(self, action: Decommission) -> None:
        """Queue destroy-and-remove of the tenant."""
        self.timers.disarm(action.tenant)
        try:
            submitted = self.queue.submit(action.tenant, "decommission", self.max_attempts)
            self._audit("billing.decommission", action.tenant, "queued", f"job {submitted.job.id}")
        except (NotFound, Conflict) as exc:
            log.warning("billing: decommission of %s skipped: %s", action.tenant, exc)

    def run_due(self, now: float | None = None) -> list[str]:
        """Suspend every tenant whose grace period has passed; the tenants suspended now."""
        due = self.timers.take_due(time.time() if now is None else now)
        for tenant in due:
            self._declare(tenant, state="suspended")
        return due

    def _declare(
        self, slug: str, *, plan: str | None = None, servers: int | None = None, state: str | None = None
    ) -> None:
        try:
            spec = stored_spec(self.queue, self.environment, slug)
            new = redeclare(self.environment, spec, plan=plan, servers=servers, state=state)
        except NotFound:
            log.error("billing: no signed-up tenant %r; action dropped (sign the tenant up first)", slug)
            return
        except (DeclarationRefused, SpecErrors) as exc:
            log.error("billing: tenant %s cannot be changed: %s", slug, exc)
            return
        if new.spec == spec and self.queue.get_tenant(slug).phase not in ("failed",):
            return  # already declared so: nothing to apply again
        self.queue.update_declaration(slug, new.spec.plan, new.text)
        before, after = (
            f"{spec.plan} x{spec.servers} {spec.state}",
            f"{new.spec.plan} x{new.spec.servers} {new.spec.state}",
        )
        try:
            submitted = self.queue.submit(slug, "reapply", self.max_attempts)
            self._audit("billing.declare", slug, "queued", f"{before} -> {after}, job {submitted.job.id}")
        except Conflict as exc:  # decommissioned or cancelled meanwhile
            log.warning("billing: apply of %s not queued: %s", slug, exc)
