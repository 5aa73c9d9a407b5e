"""Per-run organisation keys survive a short Dokploy outage: retried mint, queued revoke, sweep of leaked keys.

Against the Dokploy simulator with its fault injection (``/_sim/faults``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from clients.dokploy import DokployClient, RetryPolicy
from provisioning import dokploy_keys
from provisioning.declarations import TenantFiles
from provisioning.dokploy_keys import (
    RUN_KEY_MAX_AGE,
    RunKeyError,
    key_name,
    organization_key,
    parse_key_name,
    platform_client,
    sweep,
)
from provisioning.key_ledger import KeyLedger
from provisioning.stacks import TenantStacks
from scripts import cloudctl
from service.key_sweeper import start_key_sweeper
from sim.dokploy.server import ThreadedServer
from tests.e2e.conftest import write_environment

FAST = RetryPolicy(attempts=3, initial=0.01, maximum=0.02)
Admin = Callable[[str, dict[str, Any]], Any]


@pytest.fixture
def platform(sim: ThreadedServer, account: dict[str, Any]) -> DokployClient:
    return platform_client(sim.url, account["apiKey"], retry=FAST)


@pytest.fixture
def ledger(tmp_path: Path) -> KeyLedger:
    return KeyLedger(tmp_path / "keys.sqlite")


def outage(admin: Admin, procedure: str, count: int | None = None) -> None:
    admin("faults", {"paths": [{"pattern": procedure, "error_rate": 1.0, "status": 503, "count": count}]})


def run_keys(sim: ThreadedServer) -> dict[str, str]:
    """id -> name of the keys the simulator holds that are ours."""
    with sim.backend.lock:
        return {k.id: k.name for k in sim.backend.api_keys.values() if parse_key_name(k.name)}


def test_key_names_are_recognisable_and_fit_dokploy() -> None:
    name = key_name("production-eu-1", 1767225600)
    assert len(name) <= 32 and parse_key_name(name) == ("production-eu-1", 1767225600.0)
    assert len(key_name("a-very-long-environment-name", 1767225600)) <= 32
    assert parse_key_name("pulumi-run-1a2b3c4d") is None and parse_key_name("sim") is None


def test_mint_is_retried_through_a_short_outage(
    sim: ThreadedServer, account: dict[str, Any], admin: Admin, platform: DokployClient, ledger: KeyLedger
) -> None:
    outage(admin, r"user\.createApiKey", count=2)
    with organization_key(platform, account["organizationId"], env="local", stack="local.acme", ledger=ledger) as key:
        scoped = DokployClient(sim.url, key, timeout=5.0)
        assert scoped.organization_active()["id"] == account["organizationId"]
        assert [(r.stack, r.state) for r in ledger.all()] == [("local.acme", "active")]
    assert ledger.all() == [] and run_keys(sim) == {}


def test_mint_during_a_long_outage_is_transient_and_changes_nothing(
    sim: ThreadedServer, account: dict[str, Any], admin: Admin, platform: DokployClient, ledger: KeyLedger
) -> None:
    outage(admin, r"user\.createApiKey")
    with pytest.raises(RunKeyError) as caught:
        with organization_key(platform, account["organizationId"], env="local", stack="local.acme", ledger=ledger):
            pytest.fail("the run must not start without a key")
    assert caught.value.transient and "retried later" in str(caught.value)
    assert ledger.all() == [] and run_keys(sim) == {}


def test_mint_refused_by_dokploy_is_not_transient(platform: DokployClient, ledger: KeyLedger) -> None:
    with pytest.raises(RunKeyError) as caught:
        with organization_key(platform, "org_nobody", env="local", stack="local.acme", ledger=ledger):
            pytest.fail("no key, no run")
    assert not caught.value.transient and "org_nobody" in str(caught.value)


def test_failed_revoke_is_queued_and_swept_later(
    sim: ThreadedServer, account: dict[str, Any], admin: Admin, platform: DokployClient, ledger: KeyLedger
) -> None:
    outage(admin, r"user\.deleteApiKey")
    with organization_key(platform, account["organizationId"], env="local", stack="local.acme", ledger=ledger):
        pass  # the run succeeded; the revoke fails: no exception may hide that
    [row] = ledger.all()
    assert row.state == "revoke" and row.attempts == 1 and "503" in (row.last_error or "")
    assert list(run_keys(sim)) == [row.key_id]

    assert sweep(platform, "local", ledger).failed == [row.name]  # still down: stays queued
    assert [r.attempts for r in ledger.all()] == [2]

    admin("faults", {"paths": []})
    report = sweep(platform, "local", ledger)
    assert report.revoked == [row.name] and report.failed == []
    assert ledger.all() == [] and run_keys(sim) == {}


def test_sweep_revokes_only_this_environments_keys_of_dead_runs(
    sim: ThreadedServer, account: dict[str, Any], platform: DokployClient, ledger: KeyLedger
) -> None:
    org, now = account["organizationId"], time.time()
    old = now - RUN_KEY_MAX_AGE - 60

    def make(name: str) -> str:
        return str(platform.create_api_key(name, org, rate_limit_enabled=False, expires_in=86_400)["id"])

    killed_unrecorded = make(key_name("local", old))  # killed between mint and ledger
    killed_recorded = make(key_name("local", old))
    ledger.minted(killed_recorded, key_name("local", old), "local.acme", minted_at=old)
    live = make(key_name("local", now))  # a run going on right now
    other_env = make(key_name("prod", old))
    foreign = make("deploy-bot")

    report = sweep(platform, "local", ledger, now=now)
    assert sorted(report.revoked) == [key_name("local", old)] * 2 and report.failed == []
    with sim.backend.lock:
        remaining = set(sim.backend.api_keys)
    assert {killed_unrecorded, killed_recorded} & remaining == set()
    assert {live, other_env, foreign, account["apiKeyId"]} <= remaining
    assert ledger.all() == []


def test_sweep_while_dokploy_is_down_reports_and_raises_nothing(
    sim: ThreadedServer, account: dict[str, Any], admin: Admin, platform: DokployClient, ledger: KeyLedger
) -> None:
    outage(admin, r"user\.")
    report = sweep(platform, "local", ledger)
    assert report.revoked == [] and any("listing" in f for f in report.failed)


# -- through the runner, the service's schedule and cloudctl ---------------------------------------------------


@pytest.fixture
def stacks(
    sim: ThreadedServer, account: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> TenantStacks:
    """Runs of tenant ``acme`` (in the account's organization) against the simulator; no engine is reached here."""
    env_file = tmp_path / "Pulumi.keys.yaml"
    write_environment(env_file)
    data = yaml.safe_load(env_file.read_text())
    data["config"]["dokploy-cloud:environment"]["dokploy_url"] = sim.url
    env_file.write_text(yaml.safe_dump(data, sort_keys=False))
    tenants = tmp_path / "tenants"
    tenants.mkdir()
    (tenants / "acme.yaml").write_text(
        yaml.safe_dump(
            {
                "slug": "acme",
                "display_name": "Acme",
                "plan": "starter",
                "region": "pve-us1",
                "dokploy_organization": account["organizationId"],
                "owner": "ops@acme.example",
            }
        )
    )
    for name, value in {
        "DOKPLOY_CLOUD_ENV_FILE": str(env_file),
        "DOKPLOY_API_KEY": account["apiKey"],
        "PROXMOX_VE_API_TOKEN": "dokploy-cloud@pve!provisioner=00000000-0000-0000-0000-000000000000",
        "PDNS_API_KEY": "unused",
        "ALLOCATIONS_DB": str(tmp_path / "allocations.sqlite"),
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'backend'}",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(dokploy_keys, "KEY_RETRY", FAST)
    return TenantStacks("local")


def test_runner_reports_a_dokploy_outage_as_transient(
    stacks: TenantStacks, admin: Admin, sim: ThreadedServer, tmp_path: Path
) -> None:
    outage(admin, r"user\.createApiKey")
    result = stacks.run(TenantFiles(tmp_path / "tenants", stacks.environment).load("acme"), "up")
    assert not result.ok and result.error_kind == "transient"
    assert "Dokploy did not answer" in (result.error or "") and run_keys(sim) == {}


def test_service_sweeps_queued_keys_on_its_schedule(
    stacks: TenantStacks, account: dict[str, Any], admin: Admin, sim: ThreadedServer
) -> None:
    platform = platform_client(sim.url, account["apiKey"], retry=FAST)
    outage(admin, r"user\.deleteApiKey")
    with organization_key(
        platform, account["organizationId"], env="local", stack="local.acme", ledger=stacks.key_ledger()
    ):
        pass
    assert [r.state for r in stacks.key_ledger().all()] == ["revoke"]
    admin("faults", {"paths": []})
    stop = threading.Event()
    thread = start_key_sweeper(stacks, 0.05, stop)
    try:
        deadline = time.monotonic() + 5
        while stacks.key_ledger().all() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(5)
    assert stacks.key_ledger().all() == [] and run_keys(sim) == {}


def test_cloudctl_revoke_keys(
    stacks: TenantStacks,
    account: dict[str, Any],
    admin: Admin,
    sim: ThreadedServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    platform = platform_client(sim.url, account["apiKey"], retry=FAST)
    outage(admin, r"user\.deleteApiKey")
    with organization_key(
        platform, account["organizationId"], env="local", stack="local.acme", ledger=stacks.key_ledger()
    ):
        pass
    [row] = stacks.key_ledger().all()
    admin("faults", {"paths": []})
    assert cloudctl.main(["--env", "local", "--tenants-dir", str(tmp_path / "tenants"), "revoke-keys"]) == 0
    assert row.name in capsys.readouterr().out and run_keys(sim) == {}
