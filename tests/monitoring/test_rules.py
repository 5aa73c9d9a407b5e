"""The alert rules and the Alertmanager routes, checked by Prometheus' and Alertmanager's own tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
RULES = MONITORING / "rules" / "dokploy-cloud.rules.yml"
RULE_TESTS = MONITORING / "rules" / "tests" / "dokploy-cloud.test.yml"
ALERTMANAGER = MONITORING / "alertmanager.yml"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/setup.sh (scripts/install_monitoring.sh installs it)")
    return path


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=MONITORING)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    assert "SUCCESS" in _run(_tool("promtool"), "check", "rules", str(RULES))
    assert "SUCCESS" in _run(_tool("promtool"), "test", "rules", str(RULE_TESTS))


def test_every_rule_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    fires, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - fires == set(), "rules no test fires"
    assert alerts - quiet == set(), "rules no test shows quiet"
    for rule in (r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]):
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_alertmanager_config_is_valid_and_routes_by_severity_and_tenant() -> None:
    assert "SUCCESS" in _run(_tool("amtool"), "check-config", str(ALERTMANAGER))

    def route(*labels: str) -> str:
        out = _run(_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
        return out.strip().splitlines()[0]

    assert route("severity=critical", "alertname=ProxmoxNodeDown") == "on-call"
    assert route("severity=critical", "tenant=acme") == "on-call,tenant-alerts"
    assert route("severity=warning", "tenant=acme") == "tenant-alerts"
    assert route("severity=warning", "alertname=TenantCapacityLow") == "tickets"
