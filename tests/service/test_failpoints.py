"""Failpoints: parsing, and the per-run numbering of resource events that the sweep's census and kills share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from provisioning.failpoints import FAILPOINT_VAR, TRACE_VAR, Failpoint, trace_lines, watch


def _event(kind: str, name: str) -> auto.EngineEvent:
    metadata: dict[str, Any] = {
        "op": "create",
        "urn": f"urn:pulumi:local.acme::dokploy-cloud::random:index/randomString:RandomString::{name}",
        "type": "random:index/randomString:RandomString",
        "provider": "",
    }
    return auto.EngineEvent.from_json({"sequence": 1, "timestamp": 0, kind: {"metadata": metadata}})


def test_a_failpoint_names_an_operation_and_a_positive_count() -> None:
    assert Failpoint.parse("up:7") == Failpoint("up", 7)
    for bad in ("up", "up:0", "apply:3", "up:x"):
        with pytest.raises(ValueError, match=FAILPOINT_VAR):
            Failpoint.parse(bad)


def test_unset_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAILPOINT_VAR, raising=False)
    monkeypatch.delenv(TRACE_VAR, raising=False)
    handler = print
    assert watch("up", handler) is handler


def test_each_run_numbers_its_resource_events_from_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    monkeypatch.setenv(TRACE_VAR, str(trace))
    seen: list[auto.EngineEvent] = []
    for run in ("a", "b"):
        handle = watch("up", seen.append)
        assert handle is not None
        handle(_event("resourcePreEvent", f"{run}-1"))
        handle(auto.EngineEvent.from_json({"sequence": 2, "timestamp": 0, "diagnosticEvent": {"message": "x"}}))
        handle(_event("resOutputsEvent", f"{run}-1"))
    assert len(seen) == 6, "every event still reaches the run's own handler"
    assert [(e["k"], e["phase"], e["name"]) for e in trace_lines(trace)] == [
        (1, "pre", "a-1"),
        (2, "done", "a-1"),
        (1, "pre", "b-1"),
        (2, "done", "b-1"),
    ]
