"""The CLI's PostgreSQL state backend: a killed update's lock is read there and cleared by recovery.

Real pulumi CLI, real PostgreSQL: an update of a program that never ends is SIGKILLed (with its
language host) while it holds the stack's lock; :mod:`provisioning.state_backend` finds the lock
record in the state table, recovery sees its process is gone and clears it, and the stack updates.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from pulumi import automation as auto

import provisioning.recovery as recovery
from provisioning import state_backend
from provisioning.toolchain import TOOLS_DIR, engine_env, pulumi_command
from tests.service.pg import Cluster
from tests.service_e2e.harness import kill_session

pytestmark = pytest.mark.engine
PROGRAM = "import time\nimport pulumi\npulumi.export('started', True)\ntime.sleep(600)\n"


@pytest.fixture
def stack(pg_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> auto.Stack:
    """Stack ``local.probe`` of a program that sleeps, on a fresh PostgreSQL state database."""
    if not (TOOLS_DIR / "bin" / "pulumi").exists():
        pytest.fail("the pulumi toolchain is not built: run scripts/setup.sh first")
    url = pg_cluster.create_database("state_probe").replace("postgresql://", "postgres://", 1) + "?sslmode=disable"
    monkeypatch.setenv("PULUMI_BACKEND_URL", url)
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        f"name: probe\nruntime:\n  name: python\n  options:\n"
        f"    virtualenv: {Path(__file__).resolve().parents[2] / '.venv'}\n"
    )
    (project / "__main__.py").write_text(PROGRAM)
    opts = auto.LocalWorkspaceOptions(
        env_vars=engine_env({"PULUMI_CONFIG_PASSPHRASE": "test-only"}), pulumi_command=pulumi_command()
    )
    return auto.create_stack("local.probe", work_dir=str(project), opts=opts)


def _recover(stack: auto.Stack) -> recovery.RecoveryReport:
    report = recovery.RecoveryReport(stack.name)
    marks = recovery.TenantMarks("probe", frozenset({"tenant-probe"}), "probe-pool")
    recovery.recover_stack(recovery.EngineStackState(stack), None, set(), marks, report)
    return report


def test_lock_of_a_killed_update_is_found_and_cleared(stack: auto.Stack) -> None:
    assert state_backend.readable_locks()
    assert state_backend.lock_records("probe", "local.probe") == []
    env = {**os.environ, **engine_env({"PULUMI_CONFIG_PASSPHRASE": "test-only"})}
    update = subprocess.Popen(
        [str(TOOLS_DIR / "bin" / "pulumi"), "up", "--yes", "--skip-preview", "-s", "local.probe", "--non-interactive"],
        cwd=stack.workspace.work_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not (locks := state_backend.lock_records("probe", "local.probe")) and time.monotonic() < deadline:
            assert update.poll() is None, "the update ended before it took its lock"
            time.sleep(0.2)
        assert [lock.get("pid") for lock in locks] == [update.pid]
        assert _recover(stack).live_lock, "a live update's lock is kept"
    finally:
        kill_session(update.pid)
        update.wait(timeout=30)
    assert state_backend.lock_records("probe", "local.probe") != []  # a killed update leaves its lock
    read = state_backend.stack_deployment("probe", "local.probe")  # what recovery reads without the CLI
    exported = stack.export_stack().deployment
    assert read is not None and read.get("resources") == exported.get("resources")
    assert read.get("pending_operations") == exported.get("pending_operations")
    assert state_backend.stack_deployment("probe", "local.nothing") is None
    assert _recover(stack).lock_cleared
    assert state_backend.lock_records("probe", "local.probe") == []
    stack.refresh(color="never")  # the stack takes updates again (a lock left would raise ConcurrentUpdateError)
