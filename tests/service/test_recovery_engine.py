"""Stale-lock and pending-operation recovery against the real pulumi CLI on a throwaway file backend."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

import provisioning.recovery as recovery
from provisioning import state_backend
from provisioning.toolchain import TOOLS_DIR, engine_env, pulumi_command

pytestmark = pytest.mark.engine


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> auto.Stack:
    """An empty stack ``local.probe`` of a tiny project on its own file backend."""
    if not (TOOLS_DIR / "bin" / "pulumi").exists():
        pytest.fail("the pulumi toolchain is not built: run scripts/setup.sh first")
    backend = tmp_path / "backend"
    backend.mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{backend}")
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: probe\nruntime: python\n")
    env = engine_env({"PULUMI_CONFIG_PASSPHRASE": "test-only"})
    opts = auto.LocalWorkspaceOptions(env_vars=env, pulumi_command=pulumi_command())
    return auto.create_stack("local.probe", work_dir=str(project), opts=opts)


def _write_lock(stack: auto.Stack, pid: int) -> Path:
    directory = (
        Path(os.environ["PULUMI_BACKEND_URL"][len("file://") :]) / ".pulumi/locks/organization/probe/local.probe"
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "00000000-dead-beef-0000-000000000000.json"
    path.write_text(json.dumps({"pid": pid, "hostname": socket.gethostname(), "timestamp": "2026-01-01T00:00:00Z"}))
    return path


def _locks(stack: auto.Stack) -> list[dict[str, Any]]:
    return state_backend.lock_records(stack.workspace.project_settings().name, stack.name)


def _recover(stack: auto.Stack) -> recovery.RecoveryReport:
    report = recovery.RecoveryReport(stack.name)
    marks = recovery.TenantMarks("probe", frozenset({"tenant-probe"}), "local-probe")
    recovery.recover_stack(recovery.EngineStackState(stack), None, set(), marks, report)
    return report


def test_a_live_lock_is_kept_and_a_dead_one_cleared(stack: auto.Stack) -> None:
    lock = _write_lock(stack, os.getpid())
    assert [r.get("pid") for r in _locks(stack)] == [os.getpid()]
    kept = _recover(stack)
    assert not kept.lock_cleared and kept.live_lock and lock.exists()
    _write_lock(stack, 2**22 + 12345)  # beyond pid_max defaults: no such process
    cleared = _recover(stack)
    assert cleared.lock_cleared and cleared.crash_evidence and not cleared.live_lock
    assert _locks(stack) == [] and not lock.exists()


class _CheckpointStack:
    """Export/import of a checkpoint a killed update left (the CLI's import would strip it, so no engine)."""

    name = "local.probe"

    def __init__(self, deployment: dict[str, object]) -> None:
        self.deployment = deployment
        self.imported: list[dict[str, object]] = []

    def export_stack(self) -> auto.Deployment:
        return auto.Deployment(version=3, deployment=dict(self.deployment))

    def import_stack(self, state: auto.Deployment) -> None:
        self.imported.append(dict(state.deployment or {}))


def test_pending_operations_are_dropped_and_imported_back() -> None:
    pending = [
        {
            "resource": {"urn": "urn:pulumi:local.probe::probe::proxmoxve:index/vmLegacy:VmLegacy::acme-vm"},
            "type": "creating",
        }
    ]
    fake = _CheckpointStack({"manifest": {}, "resources": [], "pending_operations": pending})
    assert recovery.clear_pending_operations(fake) == pending  # type: ignore[arg-type]
    assert fake.imported == [{"manifest": {}, "resources": []}]
    clean = _CheckpointStack({"manifest": {}, "resources": []})
    assert recovery.clear_pending_operations(clean) == [] and clean.imported == []  # type: ignore[arg-type]


def test_a_torn_checkpoint_sidecar_left_by_a_killed_cli_is_repaired(stack: auto.Stack) -> None:
    """What a worker SIGKILLed mid-save left in CI: a whole checkpoint, an empty ``.attrs`` sidecar."""
    stack.import_stack(stack.export_stack())  # a saved checkpoint and its sidecar
    stacks = Path(os.environ["PULUMI_BACKEND_URL"][len("file://") :]) / ".pulumi" / "stacks" / "probe"
    sidecar = stacks / "local.probe.json.attrs"
    assert sidecar.exists()
    sidecar.write_text("")
    with pytest.raises(auto.CommandError, match="failed to load checkpoint"):
        stack.export_stack()

    lock = _write_lock(stack, os.getpid())  # a live engine lock: it may be mid-write, so hands off
    assert recovery.remove_torn_checkpoint_files("probe", stack.name) == [] and sidecar.exists()
    lock.unlink()
    assert recovery.remove_torn_checkpoint_files("probe", stack.name, dry_run=True) == [] and sidecar.exists()

    assert recovery.remove_torn_checkpoint_files("probe", stack.name) == ["local.probe.json.attrs"]
    assert stack.export_stack().deployment is not None  # the engine reads the stack again
