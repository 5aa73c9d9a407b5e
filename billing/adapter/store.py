"""SQLite persistence for billing: processed event ids, per-tenant :class:`BillingState`, and an outbox of actions.

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
import sqlite3
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ContextManager, Optional, Protocol

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
from billing.adapter.sqlite_tx import immediate_transaction
from billing.states import TenantState
from provisioning.private_files import private_sqlite

log = logging.getLogger(__name__)

_ACTION_TYPES = {cls.__name__: cls for cls in (Provision, Resize, Suspend, Resume, Decommission)}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS billing_events (id TEXT PRIMARY KEY, type TEXT NOT NULL, tenant TEXT, received_at REAL NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_tenants (tenant TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_customers (customer TEXT PRIMARY KEY, tenant TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_actions (seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, event_id TEXT NOT NULL,
  kind TEXT NOT NULL, payload TEXT NOT NULL, done_at REAL);
CREATE TABLE IF NOT EXISTS billing_checkout_sessions (session_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
  organization_id TEXT, created_at REAL NOT NULL);
"""


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
    decision: Optional[Decision] = None
    note: str = ""


@dataclass(frozen=True)
class Resolution:
    """The tenant an event concerns, or why it is refused; ``bind`` when it binds the tenant's customer."""

    tenant: Optional[str] = None
    refused: Optional[str] = None
    bind: bool = False
    organization: Optional[str] = None
    """With ``bind``: the Dokploy organization the session was created for."""
    anew: bool = False
    """With ``bind``: the slug's earlier binding (another organization, billing ended) is replaced."""
    ignored: Optional[str] = None
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


class BillingStore:
    """Billing state in one SQLite file (safe across processes: each write is an IMMEDIATE transaction)."""

    def __init__(self, path: str | Path, config: BillingConfig) -> None:
        self.path, self.config = str(private_sqlite(path)), config
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.executescript(_SCHEMA)  # executescript commits on its own, so it runs outside _tx
        finally:
            db.close()

    def _tx(self) -> ContextManager[sqlite3.Connection]:
        return immediate_transaction(self.path)

    def process(self, event: BillingEvent) -> ProcessResult:
        """Apply ``event`` exactly once (by id) and queue the actions it decides."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM billing_events WHERE id = ?", (event.id,)).fetchone():
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
            db.execute("INSERT OR REPLACE INTO billing_tenants VALUES (?, ?)", (tenant, _dump_state(decision.state)))
            if found.bind:
                db.execute("INSERT OR REPLACE INTO billing_customers VALUES (?, ?)", (event.customer, tenant))
                log.info("billing: tenant %s is now bound to Stripe customer %s", tenant, event.customer)
            for action in decision.actions:
                db.execute("INSERT INTO billing_actions (tenant, event_id, kind, payload) VALUES (?, ?, ?, ?)",
                           (tenant, event.id, type(action).__name__, json.dumps(asdict(action))))
            return self._record(db, event, tenant, ProcessResult(False, decision, decision.note))

    def resolve(self, db: sqlite3.Connection, event: BillingEvent) -> Resolution:
        """The tenant ``event`` concerns: by the customer's binding, or by a checkout session we created.

        ``metadata.tenant`` is only a claim: it must agree with the binding and never binds on its own.
        """
        customer = event.customer
        bound = self._tenant_of(db, customer)
        ours, organization = self._session(db, event.session_id) if event.type == CHECKOUT_COMPLETED else (None, None)
        claimed = ours or event.tenant or (event.subscription.tenant if event.subscription else None)
        if bound is not None:
            if claimed is not None and claimed != bound:
                return Resolution(claimed, f"customer {customer} is bound to tenant {bound}, the event names tenant {claimed}")
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
            return Resolution(claimed, f"tenant {claimed} is bound to customer {owner}; "
                                       f"event from customer {customer or '(none)'} refused")
        if ours is None:
            why = (f"tenant {claimed} has no Stripe customer yet: only a checkout session the service created for it "
                   "binds one (POST /v1/tenants/{slug}/checkout-session)")
            # A paid checkout we did not create needs an operator (someone paid); other events simply come
            # before the binding checkout and are superseded by it (its subscription is fetched fresh).
            return Resolution(claimed, why) if event.type == CHECKOUT_COMPLETED else Resolution(ignored=why)
        if customer is None:
            return Resolution(claimed, f"checkout session {event.session_id} for tenant {claimed} names no customer")
        return Resolution(claimed, bind=True, organization=organization, anew=owner is not None)

    def _record(self, db: sqlite3.Connection, event: BillingEvent, tenant: Optional[str], result: ProcessResult) -> ProcessResult:
        db.execute("INSERT INTO billing_events VALUES (?, ?, ?, ?, ?)", (event.id, event.type, tenant, time.time(), result.note))
        return result

    @staticmethod
    def _tenant_of(db: sqlite3.Connection, customer: Optional[str]) -> Optional[str]:
        row = db.execute("SELECT tenant FROM billing_customers WHERE customer = ?", (customer,)).fetchone() if customer else None
        return row[0] if row else None

    @staticmethod
    def _session(db: sqlite3.Connection, session_id: Optional[str]) -> tuple[Optional[str], Optional[str]]:
        row = db.execute("SELECT tenant, organization_id FROM billing_checkout_sessions WHERE session_id = ?",
                         (session_id,)).fetchone() if session_id else None
        return (row[0], row[1]) if row else (None, None)

    def record_session(self, session_id: str, tenant: str, organization_id: Optional[str] = None) -> None:
        """Remember that the service created checkout session ``session_id`` for ``tenant`` (of that organization)."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO billing_checkout_sessions VALUES (?, ?, ?, ?)",
                       (session_id, tenant, organization_id, time.time()))

    def session_tenant(self, session_id: str) -> Optional[str]:
        """The tenant the service created checkout session ``session_id`` for, if it did."""
        with self._tx() as db:
            return self._session(db, session_id)[0]

    @staticmethod
    def _load(db: sqlite3.Connection, tenant: str) -> BillingState:
        row = db.execute("SELECT state FROM billing_tenants WHERE tenant = ?", (tenant,)).fetchone()
        return _load_state(row[0]) if row else BillingState(tenant)

    def seen(self, event_id: str) -> bool:
        """Whether an event with this id was already processed."""
        with self._tx() as db:
            return db.execute("SELECT 1 FROM billing_events WHERE id = ?", (event_id,)).fetchone() is not None

    def state(self, tenant: str) -> BillingState:
        """The tenant's billing state (a fresh one if never seen)."""
        with self._tx() as db:
            return self._load(db, tenant)

    def pending(self) -> list[QueuedAction]:
        """Actions not yet executed, oldest first."""
        with self._tx() as db:
            rows = db.execute("SELECT seq, event_id, kind, payload FROM billing_actions WHERE done_at IS NULL ORDER BY seq").fetchall()
        return [QueuedAction(seq, event_id, _ACTION_TYPES[kind](**json.loads(payload))) for seq, event_id, kind, payload in rows]

    def drain(self, sink: ActionSink) -> int:
        """Execute pending actions in order; stop at the first sink error (it propagates). Returns how many ran."""
        done = 0
        for queued in self.pending():
            dispatch(sink, queued.action)
            with self._tx() as db:
                db.execute("UPDATE billing_actions SET done_at = ? WHERE seq = ?", (time.time(), queued.seq))
            done += 1
        return done


def billed_to_organization(state: BillingState, organization: Optional[str]) -> bool:
    """Whether the tenant's customer binding was made for ``organization`` (so the tenant pays as that customer)."""
    return state.customer is not None and state.organization == organization


def _slug_reused(state: BillingState, organization: Optional[str]) -> bool:
    """A bound slug whose billing ended, now signed up (and checked out) by another organization."""
    return (organization is not None and state.organization != organization
            and state.lifecycle in (None, TenantState.DECOMMISSIONED))


def _dump_state(state: BillingState) -> str:
    data = asdict(state)
    data["lifecycle"] = state.lifecycle.value if state.lifecycle else None
    return json.dumps(data, sort_keys=True)


def _load_state(text: str) -> BillingState:
    data = json.loads(text)
    lifecycle = TenantState(data.pop("lifecycle")) if data.get("lifecycle") else None
    data.pop("lifecycle", None)
    return replace(BillingState(**data), lifecycle=lifecycle)
