"""The audit trail is hash-chained: a modified, removed or reordered record is found, by the API and cloudctl;
operator and billing actions are recorded with the credential that acted and the request id."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.testclient import TestClient

from provisioning.audit_chain import GENESIS, record_hash, verify
from provisioning.fleet_db import FleetDatabase, fleet_location
from scripts import cloudctl_reconcile
from service.api.audit import credential_actor
from service.queue import JobQueue
from tests.service.conftest import OPERATOR_TOKEN

AUTH = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def _sql(db: FleetDatabase, statement: str) -> None:
    with db.database.transaction(write=True) as tx:
        tx.exec_driver_sql(statement)


def _three(db: FleetDatabase) -> list[int]:
    return [
        db.audit("cloudctl:ops", "drain", "pve1", "started", detail="maintenance"),
        db.audit("service", "billing.declare", "tenant acme", "queued", tenant="acme", detail="small -> medium"),
        db.audit("operator:abc", "operator.reapply", "tenant acme", "accepted", tenant="acme"),
    ]


def test_an_untouched_chain_verifies_and_each_record_follows_the_one_before(tmp_path: Path) -> None:
    db = FleetDatabase(tmp_path / "fleet.sqlite", "local")
    other = FleetDatabase(tmp_path / "fleet.sqlite", "prod")  # another environment has its own chain
    other.audit("x", "y", "z", "done")
    _three(db)
    records = db.chain()
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    result = db.verify_chain()
    assert result.ok and result.checked == 3 and result.head == records[-1].hash
    assert other.verify_chain().ok and other.verify_chain().checked == 1


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("update audit_event set detail = 'nothing to see' where id = {second}", "modified"),
        ("update audit_event set at = at - 3600 where id = {second}", "modified"),
        ("update audit_event set actor = 'someone-else' where id = {second}", "modified"),
        ("delete from audit_event where id = {second}", "removed"),
    ],
)
def test_a_modified_or_removed_record_breaks_the_chain_where_it_was(tmp_path: Path, tamper: str, reason: str) -> None:
    db = FleetDatabase(tmp_path / "fleet.sqlite", "local")
    _, second, third = _three(db)
    _sql(db, tamper.format(second=second))
    result = db.verify_chain()
    assert not result.ok and result.broken is not None
    assert result.broken.record_id == (second if reason == "modified" else third)
    assert reason in result.broken.reason
    assert result.checked == 1


def test_a_rewritten_record_with_a_recomputed_hash_still_breaks_the_next_link(tmp_path: Path) -> None:
    db = FleetDatabase(tmp_path / "fleet.sqlite", "local")
    _, second, third = _three(db)
    row = next(r for r in db.chain() if r.id == second).to_json()
    row["detail"] = "forged"
    forged = record_hash(row, str(row["prev_hash"]))
    _sql(db, f"update audit_event set detail = 'forged', hash = '{forged}' where id = {second}")
    result = db.verify_chain()
    assert result.broken is not None and result.broken.record_id == third


def test_concurrent_appenders_keep_one_chain(tmp_path: Path) -> None:
    location = tmp_path / "fleet.sqlite"
    FleetDatabase(location, "local")  # migrated once

    def append(name: str) -> None:
        db = FleetDatabase(location, "local")
        for n in range(25):
            db.audit(name, "test.append", str(n), "done")

    threads = [threading.Thread(target=append, args=(f"writer-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = FleetDatabase(location, "local").verify_chain()
    assert result.ok and result.checked == 100


def test_pruning_keeps_the_rest_verifiable_and_is_itself_recorded(tmp_path: Path) -> None:
    db = FleetDatabase(tmp_path / "fleet.sqlite", "local")
    old = _three(db)
    _sql(db, f"update audit_event set at = at - 90 * 86400 where id <= {old[-1]}")  # written 90 days ago...
    # ...which breaks their hashes: rewrite the chain as if they had been written then.
    prev = GENESIS
    for event in db.chain():
        digest = record_hash(event.to_json(), prev)
        _sql(db, f"update audit_event set prev_hash = '{prev}', hash = '{digest}' where id = {event.id}")
        prev = digest
    kept = db.audit("service", "operator.reapply", "tenant acme", "accepted", tenant="acme")
    assert db.prune(30, "service:audit-retention") == 3
    records = db.chain()
    assert records[0].id == kept
    assert records[-1].action == "audit.prune" and "removed=3" in records[-1].detail
    assert db.verify_chain().ok and db.verify_chain().checked == 2
    assert db.prune(30, "service:audit-retention") == 0  # nothing more is old enough: nothing recorded
    _sql(db, f"delete from audit_event where id = {kept}")  # removing the oldest kept record is still seen
    assert not db.verify_chain().ok


def test_verify_itself_checks_every_link() -> None:
    records = [{"id": 1, "at": 1.0, "env": "e", "actor": "a", "action": "b", "tenant": None, "subject": "s"}]
    records[0].update(outcome="o", detail="", request_id=None, prev_hash=GENESIS)
    records[0]["hash"] = record_hash(records[0], GENESIS)
    assert verify(records).ok
    assert not verify(records, anchor="1" * 64).ok  # an anchor it does not follow


def test_cloudctl_audit_verify_exits_1_on_a_modified_record_and_export_prints_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    allocations = str(tmp_path / "allocations.sqlite")
    stacks = SimpleNamespace(allocations_location=lambda: allocations, env_name="local")
    db = FleetDatabase(fleet_location(allocations, "local"), "local")
    _, second, _ = _three(db)
    console = cloudctl_reconcile.Console(record=True, width=200, file=io.StringIO())

    def run(*argv: str) -> int:
        args = cloudctl_reconcile_parser().parse_args(["audit", *argv])
        return cloudctl_reconcile.run(args, stacks, tmp_path, console)  # type: ignore[arg-type]

    assert run("verify") == 0 and "3 records, chain intact" in console.export_text()
    assert run("export") == 0
    exported = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["id"] for e in exported] == sorted(e["id"] for e in exported) and len(exported) == 3
    assert all(set(e) >= {"hash", "prev_hash", "actor", "request_id"} for e in exported)
    _sql(db, f"update audit_event set outcome = 'failed' where id = {second}")
    assert run("verify") == 1 and f"record {second} its content no longer matches" in console.export_text()


def cloudctl_reconcile_parser() -> object:
    from scripts.cloudctl import parser

    return parser()


def test_operator_actions_are_recorded_with_the_credential_and_request_id(
    client_and_db: tuple[TestClient, FleetDatabase], queue: JobQueue
) -> None:
    client, db = client_and_db
    queue.submit_signup("evt-1", "acme", "small", "org-acme", "slug: acme\n", 3)
    answer = client.post("/v1/tenants/acme/reapply", headers={**AUTH, "X-Request-Id": "req-42"})
    assert answer.status_code == 202
    refused = client.post("/v1/tenants/nobody/decommission", headers={**AUTH, "X-Request-Id": "req-43"})
    assert refused.status_code == 404
    events = {e.request_id: e for e in db.chain()}
    accepted = events["req-42"]
    assert accepted.action == "operator.reapply" and accepted.outcome == "accepted" and accepted.tenant == "acme"
    assert accepted.actor == credential_actor("operator", OPERATOR_TOKEN)
    assert OPERATOR_TOKEN not in accepted.actor and answer.json()["job_id"] in accepted.detail
    assert events["req-43"].action == "operator.decommission" and events["req-43"].outcome == "refused"
    exported = client.get("/v1/audit/export", headers=AUTH)
    assert exported.status_code == 200 and len(exported.text.splitlines()) == 2
    assert OPERATOR_TOKEN not in exported.text
    assert client.get("/v1/audit/verify", headers=AUTH).json()["ok"] is True
    _sql(db, f"update audit_event set tenant = 'beta' where id = {accepted.id}")
    verdict = client.get("/v1/audit/verify", headers=AUTH).json()
    assert verdict["ok"] is False and verdict["broken"]["id"] == accepted.id
    assert client.get("/v1/audit/verify").status_code == 401
