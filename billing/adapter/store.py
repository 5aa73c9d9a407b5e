"""Persistence for billing (its own SQLite file, through :mod:`storage`, database ``billing``): processed event
ids, per-tenant :class:`BillingState`, an outbox of actions, checkout sessions and suspension timers.

:meth:`BillingStore.process` is one transaction: dedupe by event id, resolve the tenant, decide, save the
new state and queue its actions. :meth:`BillingStore.drain` hands queued actions, oldest first, to an
:class:`ActionSink` (the provisioning service) and marks each done only after the sink returned.

Which tenant an event concerns (see :meth:`BillingStore.resolve`): a tenant is bound to one Stripe
customer, once, when that customer completes a checkout session the service created for the tenant
(:meth:`BillingStore.record_session`). After that every event is the tenant's only if it comes from
that customer; an event from another customer naming the tenant, or from a customer bound to another
tenant, is refused, logged and recorded (so a redelivery is a duplicate), and changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from billing.config import BillingConfig
from billing.decide import (
    Action,
    BillingState,
    Decision,
    Decommission,
    Provision,
    Resize,
    Resume,
    Suspend,
    decide,
)
from billing.model import CHECKOUT_COMPLETED, BillingDataError, BillingEvent
from billing.states import TenantState
from storage import Database, open_database
from storage.schema.billing import actions, checkout_sessions, customers, events, suspensions, tenants
from storage.statements import insert_unless_present, upsert

log = logging.getLogger(__name__)

_ACTION_TYPES = {cls.__name__: cls for cls in (Provision, Resize, Suspend, Resume, Decommission)}


class ActionSink(Protocol):
    """What the provisioning service implements to carry out billing actions (each must be idempotent)."""

    def provision(self, action: Provision) -> None: ...
    def resize(self, action: Resize) -> None: ...
    def suspend(self, action: Suspend) -> None: ...
    def resume(self, action: Resume) -> None: ...
    def decommission(self, action: Decommission) -> None: ...


@dataclass(frozen=True)
class ProcessResult:
    """Outcome of one event: a duplicate, ignored (with why), or a decision."""

    duplicate: bool
    decision: Decision | None = None
    note: str = ""


@dataclass(frozen=True)
class Resolution:
    """The tenant an event concerns, or why it is refused; ``bind`` when it binds the tenant's customer."""

    tenant: str | None = None
    refused: str | None = None
    bind: bool = False
    organization: str | None = None
    """With ``bind``: the Dokploy organization the session was created for."""
    anew: bool = False
    """With ``bind``: the slug's earlier binding (another organization, billing ended) is replaced."""
    ignored: str | None = None
    """Why an event concerns no tenant yet (nothing to refuse or log loudly)."""


@dataclass(frozen=True)
class QueuedAction:
    """An action waiting in the outbox."""

    seq: int
    event_id: str
    action: Action


def dispatch(sink: ActionSink, action: Action) -> None:
    """Call the sink method for ``action``'s type."""
    getattr(sink, type(action).__name__.lower())(action)


def open_billing_database(path: str | Path) -> Database:
    """The billing file at ``path`` (owner-only, migrated)."""
    return open_database(path, "billing")


class BillingStore:
    """Billing state in one SQLite file (safe across processes: each write takes the write lock up front)."""

    def __init__(self, path: str | Path, config: BillingConfig) -> None:
        self.path, self.config = str(path), config
        self._db = open_billing_database(path)

    def __repr__(self) -> str:
        return f"BillingStore({self.path!r})"

    def _tx(self, write: bool = False) -> AbstractContextManager[Connection]:
        return self._db.transaction(write)

    def process(self, event: BillingEvent) -> ProcessResult:
        """Apply ``event`` exactly once (by id) and queue the actions it decides."""
        with self._tx(write=True) as db:
            if _seen(db, event.id):
                return ProcessResult(duplicate=True, note="duplicate event")
            found = self.resolve(db, event)
            if found.refused is not None:
                log.warning("billing: stripe event %s (%s) refused: %s", event.id, event.type, found.refused)
                return self._record(db, event, found.tenant, ProcessResult(False, note=f"refused: {found.refused}"))
            if found.tenant is None:
                note = f"ignored: {found.ignored or 'no tenant for this event'}"
                log.info("billing: stripe event %s (%s) %s", event.id, event.type, note)
                return self._record(db, event, None, ProcessResult(False, note=note))
            tenant = found.tenant
            state = BillingState(tenant) if found.anew else self._load(db, tenant)
            if found.bind:
                state = replace(state, organization=found.organization)
            try:
                decision = decide(event, state, self.config)
            except BillingDataError as exc:
                return self._record(db, event, tenant, ProcessResult(False, note=f"ignored: {exc}"))
            upsert(db, tenants, {"tenant": tenant, "state": _dump_state(decision.state)}, key=["tenant"])
            if found.bind:
                upsert(db, customers, {"customer": event.customer, "tenant": tenant}, key=["customer"])
                log.info("billing: tenant %s is now bound to Stripe customer %s", tenant, event.customer)
            for action in decision.actions:
                db.execute(
                    sa.insert(actions).values(
                        tenant=tenant, event_id=event.id, kind=type(action).__name__, payload=json.dumps(asdict(action))
                    )
                )
            return self._record(db, event, tenant, ProcessResult(False, decision, decision.note))

    def resolve(self, db: Connection, event: BillingEvent) -> Resolution:
        """The tenant ``event`` concerns: by the customer's binding, or by a checkout session we created.

        ``metadata.tenant`` is only a claim: it must agree with the binding and never binds on its own.
        """
        customer = event.customer
        bound = self._tenant_of(db, customer)
        ours, organization = self._session(db, event.session_id) if event.type == CHECKOUT_COMPLETED else (None, None)
        claimed = ours or event.tenant or (event.subscription.tenant if event.subscription else None)
        if bound is not None:
            if claimed is not None and claimed != bound:
                return Resolution(
                    claimed, f"customer {customer} is bound to tenant {bound}, the event names tenant {claimed}"
                )
            current = self._load(db, bound)
            if current.customer is not None and current.customer != customer:  # recorded before bindings were enforced
                return Resolution(bound, f"tenant {bound} is bound to customer {current.customer}, not {customer}")
            if ours and _slug_reused(current, organization):  # the same customer pays for the slug's new organization
                return Resolution(bound, bind=True, organization=organization, anew=True)
            return Resolution(bound)
        if claimed is None:
            return Resolution()
        current = self._load(db, claimed)
        owner = current.customer
        if owner is not None and not (ours and customer and _slug_reused(current, organization)):
            return Resolution(
                claimed,
                f"tenant {claimed} is bound to customer {owner}; event from customer {customer or '(none)'} refused",
            )
        if ours is None:
            why = (
                f"tenant {claimed} has no Stripe customer yet: only a checkout session the service created for it "
                "binds one (POST /v1/tenants/{slug}/checkout-session)"
            )
            # A paid checkout we did not create needs an operator (someone paid); other events simply come
            # before the binding checkout and are superseded by it (its subscription is fetched fresh).
            return Resolution(claimed, why) if event.type == CHECKOUT_COMPLETED else Resolution(ignored=why)
        if customer is None:
            return Resolution(claimed, f"checkout session {event.session_id} for tenant {claimed} names no customer")
        return Resolution(claimed, bind=True, organization=organization, anew=owner is not None)

    def _record(self, db: Connection, event: BillingEvent, tenant: str | None, result: ProcessResult) -> ProcessResult:
        db.execute(
            sa.insert(events).values(
                id=event.id, type=event.type, tenant=tenant, received_at=time.time(), note=result.note
            )
        )
        return result

    @staticmethod
    def _tenant_of(db: Connection, customer: str | None) -> str | None:
        if not customer:
            return None
        return db.execute(sa.select(customers.c.tenant).where(customers.c.customer == customer)).scalar()

    @staticmethod
    def _session(db: Connection, session_id: str | None) -> tuple[str | None, str | None]:
        row = (
            db.execute(
                sa.select(checkout_sessions.c.tenant, checkout_sessions.c.organization_id).where(
                    checkout_sessions.c.session_id == session_id
                )
            ).first()
            if session_id
            else None
        )
        return (row.tenant, row.organization_id) if row else (None, None)

    def record_session(self, session_id: str, tenant: str, organization_id: str | None = None) -> None:
        """Remember that the service created checkout session ``session_id`` for ``tenant`` (of that organization)."""
        with self._tx(write=True) as db:
            upsert(
                db,
                checkout_sessions,
                {
                    "session_id": session_id,
                    "tenant": tenant,
                    "organization_id": organization_id,
                    "created_at": time.time(),
                },
                key=["session_id"],
            )

    def session_tenant(self, session_id: str) -> str | None:
        """The tenant the service created checkout session ``session_id`` for, if it did."""
        with self._tx() as db:
            return self._session(db, session_id)[0]

    @staticmethod
    def _load(db: Connection, tenant: str) -> BillingState:
        state = db.execute(sa.select(tenants.c.state).where(tenants.c.tenant == tenant)).scalar()
        return _load_state(state) if state is not None else BillingState(tenant)

    def seen(self, event_id: str) -> bool:
        """Whether an event with this id was already processed."""
        with self._tx() as db:
            return _seen(db, event_id)

    def state(self, tenant: str) -> BillingState:
        """The tenant's billing state (a fresh one if never seen)."""
        with self._tx() as db:
            return self._load(db, tenant)

    def pending(self) -> list[QueuedAction]:
        """Actions not yet executed, oldest first."""
        with self._tx() as db:
            rows = db.execute(
                sa.select(actions.c.seq, actions.c.event_id, actions.c.kind, actions.c.payload)
                .where(actions.c.done_at.is_(None))
                .order_by(actions.c.seq)
            ).all()
        return [
            QueuedAction(seq, event_id, _ACTION_TYPES[kind](**json.loads(payload)))
            for seq, event_id, kind, payload in rows
        ]

    def drain(self, sink: ActionSink) -> int:
        """Execute pending actions in order; stop at the first sink error (it propagates). Returns how many ran."""
        done = 0
        for queued in self.pending():
            dispatch(sink, queued.action)
            with self._tx(write=True) as db:
                db.execute(sa.update(actions).where(actions.c.seq == queued.seq).values(done_at=time.time()))
            done += 1
        return done


class SuspensionTimers:
    """Pending and executed suspensions, one row per tenant, in the billing file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_billing_database(path)

    def __repr__(self) -> str:
        return f"SuspensionTimers({self.path!r})"

    def arm(self, tenant: str, not_before: int, reason: str) -> None:
        """Suspend ``tenant`` at ``not_before`` (an already armed or executed suspension is kept)."""
        with self._db.transaction(write=True) as db:
            insert_unless_present(
                db,
                suspensions,
                {"tenant": tenant, "not_before": not_before, "reason": reason, "executed_at": None},
                key=["tenant"],
            )

    def disarm(self, tenant: str) -> bool | None:
        """Forget ``tenant``'s suspension; whether it had already been executed (None: there was none)."""
        with self._db.transaction(write=True) as db:
            row = db.execute(sa.select(suspensions.c.executed_at).where(suspensions.c.tenant == tenant)).first()
            db.execute(sa.delete(suspensions).where(suspensions.c.tenant == tenant))
        return None if row is None else row.executed_at is not None

    def take_due(self, now: float) -> list[str]:
        """Mark every due, unexecuted suspension executed; the tenants (each returned once, by one caller)."""
        with self._db.transaction(write=True) as db:
            due = list(
                db.execute(
                    sa.select(suspensions.c.tenant)
                    .where(suspensions.c.executed_at.is_(None), suspensions.c.not_before <= now)
                    .order_by(suspensions.c.not_before)
                ).scalars()
            )
            if due:
                db.execute(sa.update(suspensions).where(suspensions.c.tenant.in_(due)).values(executed_at=now))
        return due

    def pending(self) -> dict[str, int]:
        """Tenant -> ``not_before`` of the suspensions still waiting."""
        with self._db.transaction() as db:
            rows = db.execute(
                sa.select(suspensions.c.tenant, suspensions.c.not_before).where(suspensions.c.executed_at.is_(None))
            ).all()
        return {row.tenant: int(row.not_before) for row in rows}


def _seen(db: Connection, event_id: str) -> bool:
    return db.execute(sa.select(sa.literal(1)).where(events.c.id == event_id)).first() is not None


def billed_to_organization(state: BillingState, organization: str | None) -> bool:
    """Whether the tenant's customer binding was made for ``organization`` (so the tenant pays as that customer)."""
    return state.customer is not None and state.organization == organization


def _slug_reused(state: BillingState, organization: str | None) -> bool:
    """A bound slug whose billing ended, now signed up (and checked out) by another organization."""
    return (
        organization is not None
        and state.organization != organization
        and state.lifecycle in (None, TenantState.DECOMMISSIONED)
    )


def _dump_state(state: BillingState) -> str:
    data = asdict(state)
    data["lifecycle"] = state.lifecycle.value if state.lifecycle else None
    return json.dumps(data, sort_keys=True)


def _load_state(text: str) -> BillingState:
    data = json.loads(text)
    lifecycle = TenantState(data.pop("lifecycle")) if data.get("lifecycle") else None
    data.pop("lifecycle", None)
    return replace(BillingState(**data), lifecycle=lifecycle)
