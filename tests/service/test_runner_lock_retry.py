"""The plain runner's wait for the engine's stack lock goes through clients/retry.py's RetryPolicy."""

from __future__ import annotations

import threading

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

import provisioning.stacks as stacks_module
from clients.retry import RetryPolicy
from provisioning.declarations import TenantFiles
from provisioning.runs import RunResult
from provisioning.stacks import TenantStacks
from provisioning.toolchain import PROJECT_DIR

LOCKED = "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end"


def _locked() -> auto.ConcurrentUpdateError:
    return auto.ConcurrentUpdateError(CommandResult(stdout="", code=255, stderr=LOCKED))


@pytest.fixture
def stacks(monkeypatch: pytest.MonkeyPatch) -> TenantStacks:
    monkeypatch.setattr(stacks_module, "STACK_LOCK_RETRY", RetryPolicy(attempts=3, initial=0.01, maximum=0.01))
    return TenantStacks("local")


def _attempts(monkeypatch: pytest.MonkeyPatch, stacks: TenantStacks, locked_times: int) -> list[int]:
    calls: list[int] = []

    def run_once(tenant, operation, on_event, cancel=None, refresh=False, rotation=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) <= locked_times:
            raise _locked()
        return RunResult(tenant.slug, operation, True, 0.0)

    monkeypatch.setattr(stacks, "_run_once", run_once)
    return calls


def test_a_locked_stack_is_tried_again_until_the_lock_is_gone(
    stacks: TenantStacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _attempts(monkeypatch, stacks, locked_times=2)
    acme = TenantFiles(PROJECT_DIR / "tenants", stacks.environment).load("acme")
    result = stacks.run(acme, "preview")
    assert result.ok and len(calls) == 3


def test_a_lock_that_stays_ends_the_run_as_transient_naming_recover(
    stacks: TenantStacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _attempts(monkeypatch, stacks, locked_times=10)
    acme = TenantFiles(PROJECT_DIR / "tenants", stacks.environment).load("acme")
    result = stacks.run(acme, "preview")
    assert not result.ok and result.error_kind == "transient" and len(calls) == 3
    assert "locked by another update" in (result.error or "") and "cloudctl recover" in (result.error or "")


def test_a_cancelled_run_stops_waiting_for_the_lock(stacks: TenantStacks, monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = threading.Event()
    calls: list[int] = []

    def run_once(tenant, operation, on_event, cancel_=None, refresh=False, rotation=None):  # type: ignore[no-untyped-def]
        calls.append(1)
        cancel.set()  # the worker lost its lease while the stack was locked
        raise _locked()

    monkeypatch.setattr(stacks, "_run_once", run_once)
    acme = TenantFiles(PROJECT_DIR / "tenants", stacks.environment).load("acme")
    result = stacks.run(acme, "up", cancel=cancel)
    assert not result.ok and result.error_kind == "cancelled" and len(calls) == 1
