"""SQLite persistence for billing: processed event ids, per-tenant :class:`BillingState`, and an outbox of actions.

:meth:`BillingStore.process` is one transaction: dedupe by event id, resolve the tenant, decide, save the
new state and queue its actions. :meth:`BillingStore.drain` hands queued actions, oldest first, to an
:class:`ActionSink` (the provisioning service) and marks each done only after the sink returned.
"""
from __future__ import annotations

import json
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
from billing.model import BillingDataError, BillingEvent
from billing.sqlite_tx import immediate_transaction
from billing.states import TenantState
from provisioning.private_files import private_sqlite

_ACTION_TYPES = {cls.__name__: cls for cls in (Provision, Resize, Suspend, Resume, Decommission)}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS billing_events (id TEXT PRIMARY KEY, type TEXT NOT NULL, tenant TEXT, received_at REAL NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_tenants (tenant TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_customers (customer TEXT PRIMARY KEY, tenant TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS billing_actions (seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, event_id TEXT NOT NULL,
  kind TEXT NOT NULL, payload TEXT NOT NULL, done_at REAL);
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
            tenant = event.tenant or self._tenant_of(db, event.customer)
            if tenant is None:
                return self._record(db, event, None, ProcessResult(False, note="ignored: no tenant for this event"))
            state = self._load(db, tenant)
            try:
                decision = decide(event, state, self.config)
            except BillingDataError as exc:
                return self._record(db, event, tenant, ProcessResult(False, note=f"ignored: {exc}"))
            db.execute("INSERT OR REPLACE INTO billing_tenants VALUES (?, ?)", (tenant, _dump_state(decision.state)))
            if decision.state.customer:
                db.execute("INSERT OR IGNORE INTO billing_customers VALUES (?, ?)", (decision.state.customer, tenant))
            for action in decision.actions:
                db.execute("INSERT INTO billing_actions (tenant, event_id, kind, payload) VALUES (?, ?, ?, ?)",
                           (tenant, event.id, type(action).__name__, json.dumps(asdict(action))))
            return self._record(db, event, tenant, ProcessResult(False, decision, decision.note))

    def _record(self, db: sqlite3.Connection, event: BillingEvent, tenant: Optional[str], result: ProcessResult) -> ProcessResult:
        db.execute("INSERT INTO billing_events VALUES (?, ?, ?, ?, ?)", (event.id, event.type, tenant, time.time(), result.note))
        return result

    @staticmethod
    def _tenant_of(db: sqlite3.Connection, customer: Optional[str]) -> Optional[str]:
        row = db.execute("SELECT tenant FROM billing_customers WHERE customer = ?", (customer,)).fetchone() if customer else None
        return row[0] if row else None

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


def _dump_state(state: BillingState) -> str:
    data = asdict(state)
    data["lifecycle"] = state.lifecycle.value if state.lifecycle else None
    return json.dumps(data, sort_keys=True)


def _load_state(text: str) -> BillingState:
    data = json.loads(text)
    lifecycle = TenantState(data.pop("lifecycle")) if data.get("lifecycle") else None
    data.pop("lifecycle", None)
    return replace(BillingState(**data), lifecycle=lifecycle)
