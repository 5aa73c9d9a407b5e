"""The simulator's API coverage report is current, and every method the product calls is implemented."""

from __future__ import annotations

from sim.proxmox import coverage
from sim.proxmox.urls import ROUTES


def test_the_committed_report_matches_the_routes() -> None:
    assert coverage.main(["--check"]) == 0, "run: .venv/bin/python -m sim.proxmox.coverage"


def test_every_route_is_a_method_of_the_schema() -> None:
    methods = {(m.verb, m.path) for m in coverage.schema_methods()}
    assert set(ROUTES) - {("POST", "/access/ticket")} <= methods


def test_every_method_the_product_calls_is_implemented() -> None:
    calls = coverage.product_calls()
    assert calls, "sim/proxmox/product_calls.json lists no calls"
    assert sorted(calls - set(ROUTES)) == []


def test_a_stale_report_is_detected(tmp_path, monkeypatch) -> None:
    stale = tmp_path / "COVERAGE.md"
    stale.write_text(coverage.REPORT.read_text().replace("| yes |", "| no |", 1))
    monkeypatch.setattr(coverage, "REPORT", stale)
    assert coverage.main(["--check"]) == 1
