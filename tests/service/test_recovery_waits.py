"""Recovery's waits: a dead run's VM lock (RetryPolicy) and its own Proxmox tasks (proxmoxer's blocking_status)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from provisioning import recovery
from provisioning.recovery import RecoveryInterrupted, RecoveryReport

UPID = "UPID:pve1:0000ABCD:00001234:65000000:qmdestroy:10000:dokploy-cloud@pve!provisioner:"


class _Node:
    def __init__(self, api: FakeApi) -> None:
        self.api = api

    def qemu(self, vmid: int) -> Any:
        api = self.api

        class Config:
            @staticmethod
            def get() -> dict[str, Any]:
                api.config_reads += 1
                if api.gone:
                    raise RuntimeError(
                        "500 Internal Server Error: Configuration file 'nodes/pve1/qemu-server/"
                        f"{vmid}.conf' does not exist"
                    )
                return {"lock": api.locks.pop(0) if api.locks else None}

        return type("Vm", (), {"config": Config})

    def tasks(self, upid: str) -> Any:
        api = self.api

        class Status:
            @staticmethod
            def get() -> dict[str, Any]:
                return api.statuses.pop(0) if len(api.statuses) > 1 else api.statuses[0]

        return type("Task", (), {"status": Status})


class FakeApi:
    """Just enough of proxmoxer's ProxmoxAPI: VM config locks and task statuses, scripted."""

    def __init__(
        self, locks: list[str] | None = None, statuses: list[dict[str, Any]] | None = None, gone: bool = False
    ) -> None:
        self.locks, self.statuses, self.gone, self.config_reads = list(locks or []), list(statuses or []), gone, 0

    def nodes(self, node: str) -> _Node:
        return _Node(self)


def test_waits_until_the_dead_runs_task_releases_the_vm() -> None:
    api, report = FakeApi(locks=["clone", "clone"]), RecoveryReport("local.acme")
    assert recovery._wait_unlocked(api, "pve1", 10000, report, timeout=5) is True
    assert api.config_reads == 3 and report.waited_for_tasks == {10000: "clone"}


def test_a_vm_that_stays_locked_times_out_naming_vm_lock_and_node() -> None:
    api = FakeApi(locks=["clone"] * 100)
    with pytest.raises(TimeoutError, match=r"VM 10000 is still locked \(clone\) after 1 s; check its task on pve1"):
        recovery._wait_unlocked(api, "pve1", 10000, RecoveryReport("local.acme"), timeout=1)
    assert 2 <= api.config_reads <= 4


def test_a_vm_deleted_meanwhile_ends_the_wait() -> None:
    assert recovery._wait_unlocked(FakeApi(gone=True), "pve1", 10000, RecoveryReport("local.acme"), timeout=5) is False


def test_a_cancelled_recovery_stops_waiting() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RecoveryInterrupted):
        recovery._wait_unlocked(
            FakeApi(locks=["clone"] * 100), "pve1", 10000, RecoveryReport("local.acme"), timeout=60, cancel=cancel
        )


def test_own_tasks_are_waited_for_and_their_failure_is_raised() -> None:
    recovery.wait_task(FakeApi(statuses=[{"status": "running"}, {"status": "stopped", "exitstatus": "OK"}]), UPID, 5)
    with pytest.raises(RuntimeError, match="failed: VM is locked"):
        recovery.wait_task(FakeApi(statuses=[{"status": "stopped", "exitstatus": "VM is locked"}]), UPID, 5)
    with pytest.raises(TimeoutError, match="did not finish within 0 s"):
        recovery.wait_task(FakeApi(statuses=[{"status": "running"}]), UPID, 0.3)
