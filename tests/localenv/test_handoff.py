"""``demo --keep`` publishes how to reach it; ``cloudctl --env local`` finds the running demo by itself."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from provisioning.toolchain import DEFAULT_BACKEND
from scripts import cloudctl
from scripts.localenv import handoff

DEMO = {
    "PULUMI_BACKEND_URL": "file:///somewhere/local-demo/backend",
    "PULUMI_CONFIG_PASSPHRASE": "local-dev-only",
    "ALLOCATIONS_DB": "/somewhere/local-demo/allocations.sqlite",
}


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_handoff_file_is_private_and_sourceable(tmp_path: Path) -> None:
    path = handoff.write_handoff(DEMO, os.getpid(), tmp_path / "cloud.env")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    out = subprocess.run(
        ["bash", "-c", f'source "{path}"; echo "$PULUMI_BACKEND_URL|$ALLOCATIONS_DB"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == f"{DEMO['PULUMI_BACKEND_URL']}|{DEMO['ALLOCATIONS_DB']}"


def test_running_demo_is_adopted_over_defaults_only(tmp_path: Path) -> None:
    path = handoff.write_handoff(DEMO, os.getpid(), tmp_path / "cloud.env")
    environ = {"PULUMI_BACKEND_URL": DEFAULT_BACKEND}
    assert handoff.adopt_running_demo(environ, path) == DEMO
    assert environ == DEMO
    explicit = {"PULUMI_BACKEND_URL": "file:///mine", "ALLOCATIONS_DB": "/mine.sqlite"}
    handoff.adopt_running_demo(explicit, path)
    assert explicit == {
        "PULUMI_BACKEND_URL": "file:///mine",
        "ALLOCATIONS_DB": "/mine.sqlite",
        "PULUMI_CONFIG_PASSPHRASE": "local-dev-only",
    }


def test_a_stopped_demo_is_ignored(tmp_path: Path) -> None:
    path = handoff.write_handoff(DEMO, _dead_pid(), tmp_path / "cloud.env")
    environ: dict[str, str] = {}
    assert handoff.adopt_running_demo(environ, path) == {} and environ == {}


def test_an_own_passphrase_is_never_written(tmp_path: Path) -> None:
    settings = handoff.demo_settings({**DEMO, "PULUMI_CONFIG_PASSPHRASE": "my-own-secret"})
    path = handoff.write_handoff(settings, os.getpid(), tmp_path / "cloud.env")
    assert "my-own-secret" not in path.read_text()
    assert any("PULUMI_CONFIG_PASSPHRASE=..." in line for line in handoff.shell_commands(settings, path))


def test_keep_prints_the_exact_commands(tmp_path: Path) -> None:
    lines = handoff.shell_commands(handoff.demo_settings(DEMO), tmp_path / "cloud.env")
    assert lines[0].startswith("scripts/cloudctl --env local status")
    assert (
        "export PULUMI_BACKEND_URL=file:///somewhere/local-demo/backend PULUMI_CONFIG_PASSPHRASE=local-dev-only "
        "ALLOCATIONS_DB=/somewhere/local-demo/allocations.sqlite"
    ) in lines


def test_cloudctl_env_local_uses_the_running_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(handoff, "HANDOFF_FILE", tmp_path / "cloud.env")
    handoff.write_handoff(DEMO, os.getpid())
    monkeypatch.setenv("PULUMI_BACKEND_URL", DEFAULT_BACKEND)
    for key in ("PULUMI_CONFIG_PASSPHRASE", "ALLOCATIONS_DB"):
        monkeypatch.delenv(key, raising=False)
    assert cloudctl.main(["--env", "local", "list"]) == 0
    assert {k: os.environ[k] for k in DEMO} == DEMO
    assert "using the running demo's state" in capsys.readouterr().out


def test_demo_keep_publishes_prints_and_withdraws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.localenv import demo

    monkeypatch.setattr(handoff, "HANDOFF_FILE", tmp_path / "cloud.env")
    for key, value in DEMO.items():
        monkeypatch.setenv(key, value)
    seen: list[dict[str, str] | None] = []
    previous = signal.getsignal(signal.SIGTERM)

    def stop() -> None:
        seen.append(handoff.read_running())
        os.kill(os.getpid(), signal.SIGTERM)

    timer = threading.Timer(0.3, stop)
    timer.start()
    try:
        demo.keep_running()
    finally:
        timer.join()
        signal.signal(signal.SIGTERM, previous)
    assert seen == [DEMO]  # while running, another shell finds exactly these settings
    assert not (tmp_path / "cloud.env").exists()
    out = capsys.readouterr().out
    assert (
        "  export PULUMI_BACKEND_URL=file:///somewhere/local-demo/backend PULUMI_CONFIG_PASSPHRASE=local-dev-only "
        "ALLOCATIONS_DB=/somewhere/local-demo/allocations.sqlite\n"
    ) in out
