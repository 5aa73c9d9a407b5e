"""The fleet endpoints: the newest reconcile report and the audit trail, behind the operator token."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from provisioning.fleet_db import FleetDatabase
from tests.service.conftest import OPERATOR_TOKEN

AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def test_report_and_audit_need_the_token_and_serve_what_was_stored(
    client_and_db: tuple[TestClient, FleetDatabase],
) -> None:
    client, db = client_and_db
    assert client.get("/v1/reconcile").status_code == 401
    assert client.get("/v1/audit").status_code == 401
    missing = client.get("/v1/reconcile", headers=AUTH)
    assert missing.status_code == 404 and "first run" in missing.json()["detail"]

    db.save_report({"env": "local", "generated_at": 1.0, "in_sync": False, "findings": [{"cls": "drift"}]})
    db.save_report({"env": "local", "generated_at": 2.0, "in_sync": True, "findings": []})
    latest = client.get("/v1/reconcile", headers=AUTH)
    assert latest.status_code == 200 and latest.json()["generated_at"] == 2.0 and latest.json()["in_sync"]

    db.audit("cloudctl:ops", "reconcile.fix.drift", "stack local.acme", "fixed", tenant="acme", detail="up: 1 update")
    db.audit("cloudctl:ops", "reconcile.fix.orphan-vm", "VM 10900", "skipped", tenant="beta", detail="tags")
    db.audit("service", "billing.suspend", "tenant acme", "done", tenant="acme")
    every = client.get("/v1/audit", headers=AUTH).json()["events"]
    assert [e["action"] for e in every] == ["billing.suspend", "reconcile.fix.orphan-vm", "reconcile.fix.drift"]
    fixes = client.get("/v1/audit", params={"action": "reconcile.fix", "tenant": "acme"}, headers=AUTH).json()
    assert [(e["subject"], e["outcome"]) for e in fixes["events"]] == [("stack local.acme", "fixed")]
    assert client.get("/v1/audit", params={"since": 2e9}, headers=AUTH).json()["events"] == []


def test_reports_beyond_the_kept_number_are_dropped(tmp_path: Path) -> None:
    db = FleetDatabase(tmp_path / "fleet.sqlite", "local")
    other = FleetDatabase(tmp_path / "fleet.sqlite", "prod")
    other.save_report({"generated_at": 5.0, "env": "prod"})
    for n in range(205):
        db.save_report({"generated_at": float(n), "env": "local"})
    with db.database.transaction() as tx:
        kept = tx.exec_driver_sql("select count(*) from reconcile_report where env = 'local'").scalar()
    assert kept == 200 and db.latest_report() == {"generated_at": 204.0, "env": "local"}
    assert other.latest_report() == {"generated_at": 5.0, "env": "prod"}
