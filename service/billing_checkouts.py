"""What a checkout says about a tenant that never signed up, kept until billing's ``Provision`` for it.

A paid checkout for an unknown tenant can declare the tenant itself when the checkout session's
``metadata`` carries what a signup would: ``organization_id`` (Dokploy organization id) and
``contact_email``, optionally ``organization``, ``display_name`` and ``region``. The slug is the
tenant billing resolves (``metadata.tenant`` or ``client_reference_id``, see :mod:`billing.model`);
plan and server count come from the paid subscription. Dokploy Cloud's own checkout carries only
``metadata.adminId`` (the org owner's user id, CONTRACT §8), which is not enough: such a provision is
logged and dropped, as for any unknown tenant.

Records are taken from *verified* events before they are processed, so the outbox never runs a
``Provision`` ahead of the record it needs.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, ContextManager, Mapping, Optional

from billing.model import CHECKOUT_COMPLETED
from billing.sqlite_tx import immediate_transaction
from provisioning.private_files import private_sqlite

_SCHEMA = """CREATE TABLE IF NOT EXISTS billing_checkout_tenants (tenant TEXT PRIMARY KEY, event_id TEXT NOT NULL,
  fields TEXT NOT NULL)"""
REQUIRED = ("organization_id", "contact_email")
OPTIONAL = ("organization", "display_name", "region")


def checkout_fields(event: Mapping[str, Any]) -> Optional[tuple[str, dict[str, str]]]:
    """(tenant, signup fields) of a completed checkout whose metadata can declare its tenant; else None."""
    if event.get("type") != CHECKOUT_COMPLETED:
        return None
    obj: Mapping[str, Any] = (event.get("data") or {}).get("object") or {}
    raw_meta = obj.get("metadata")
    meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    tenant = meta.get("tenant") or obj.get("client_reference_id")
    if not isinstance(tenant, str) or not tenant or not all(isinstance(meta.get(k), str) and meta[k] for k in REQUIRED):
        return None
    fields = {k: meta[k] for k in (*REQUIRED, *OPTIONAL) if isinstance(meta.get(k), str) and meta[k]}
    return tenant, fields


class CheckoutTenants:
    """Checkout-declared tenants, one row per tenant (the latest checkout wins), in the billing SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(private_sqlite(path))
        with self._tx() as db:
            db.execute(_SCHEMA)

    def _tx(self) -> ContextManager[sqlite3.Connection]:
        return immediate_transaction(self.path)

    def note(self, event: Mapping[str, Any]) -> Optional[str]:
        """Remember what a verified checkout event declares; the tenant, or None when it declares nothing."""
        found = checkout_fields(event)
        if found is None:
            return None
        tenant, fields = found
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO billing_checkout_tenants VALUES (?, ?, ?)",
                       (tenant, str(event.get("id") or ""), json.dumps(fields, sort_keys=True)))
        return tenant

    def get(self, tenant: str) -> Optional[tuple[str, dict[str, str]]]:
        """(event id, signup fields) the last checkout gave for ``tenant``, if any."""
        with self._tx() as db:
            row = db.execute("SELECT event_id, fields FROM billing_checkout_tenants WHERE tenant = ?", (tenant,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None
