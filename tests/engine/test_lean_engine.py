"""The lean engine path on the real CLI: a stack opened without ``stack select``, an ``up`` whose outputs and
summary come from its own events, checkpoints read from the backend exactly as ``stack export`` gives them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi import automation as auto

from provisioning import state_backend
from provisioning.lean_engine import EventReadbackStack, LeanWorkspace
from provisioning.toolchain import CLI_LOG_VAR, PROJECT_DIR, TOOLS_DIR, engine_env, pulumi_command

pytestmark = pytest.mark.engine
PROGRAM = "import pulumi\npulumi.export('greeting', 'hello')\npulumi.export('numbers', [1, 2, 3])\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny project (outputs only) on its own file backend; every CLI call logged."""
    if not (TOOLS_DIR / "bin" / "pulumi").exists():
        pytest.fail("the pulumi toolchain is not built: run scripts/setup.sh first")
    backend = tmp_path / "backend"
    backend.mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{backend}")
    monkeypatch.setenv(CLI_LOG_VAR, str(tmp_path / "cli.jsonl"))
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text(
        f"name: dokploy-cloud\nruntime:\n  name: python\n  options:\n    virtualenv: {PROJECT_DIR / '.venv'}\n"
    )
    (directory / "__main__.py").write_text(PROGRAM)
    return directory


def _open(project: Path, name: str = "local.lean") -> EventReadbackStack:
    workspace = LeanWorkspace(
        work_dir=str(project),
        env_vars=engine_env({"PULUMI_CONFIG_PASSPHRASE": "test-only"}),
        pulumi_command=pulumi_command(),
    )
    return EventReadbackStack.open(name, workspace)


def _cli_calls(project: Path) -> list[str]:
    log = project.parent / "cli.jsonl"
    calls = [json.loads(line)["command"] for line in log.read_text().splitlines()] if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def test_a_new_stack_is_created_and_an_existing_one_opened_without_the_cli(project: Path) -> None:
    assert state_backend.stack_deployment("dokploy-cloud", "local.lean") is None
    _open(project)
    assert _cli_calls(project) == ["stack init"]
    created = state_backend.stack_deployment("dokploy-cloud", "local.lean")
    assert created is not None and not created.get("resources")
    _open(project)
    assert _cli_calls(project) == []


def test_up_reads_outputs_and_summary_from_its_events_as_the_cli_would(project: Path) -> None:
    stack = _open(project)
    _cli_calls(project)
    seen: list[auto.EngineEvent] = []
    result = stack.up(on_event=seen.append, color="never", suppress_progress=True)
    assert _cli_calls(project) == ["up"], "no `stack output` or `stack history` after the update"
    assert any(e.summary_event for e in seen), "the caller still gets every event"
    from_cli = auto.Stack.select("local.lean", stack.workspace)
    assert {k: v.value for k, v in result.outputs.items()} == {k: v.value for k, v in from_cli.outputs().items()}
    assert {k: v.value for k, v in result.outputs.items()} == {"greeting": "hello", "numbers": [1, 2, 3]}
    history = from_cli.info()
    assert history is not None and result.summary.resource_changes == history.resource_changes
    again = stack.up(color="never", suppress_progress=True)  # no on_event: read back all the same
    assert again.summary.resource_changes == {"same": 1}
    assert again.outputs["greeting"].value == "hello"


def test_the_checkpoint_read_from_the_backend_is_what_stack_export_gives(project: Path) -> None:
    stack = _open(project)
    stack.up(color="never", suppress_progress=True)
    exported = stack.export_stack().deployment
    read = state_backend.stack_deployment("dokploy-cloud", "local.lean")
    assert read is not None and read["resources"] == exported["resources"]
    assert [r["type"] for r in read["resources"]][:1] == ["pulumi:pulumi:Stack"]
    with pytest.raises(state_backend.CheckpointUnreadable):
        state_backend.stack_deployment("dokploy-cloud", "local.lean", url="s3://bucket")
