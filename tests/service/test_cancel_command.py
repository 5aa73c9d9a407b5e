"""Interrupting a CLI run: SIGINT first, SIGKILL of the CLI and everything it started after the grace period.

A stand-in ``pulumi`` (a shell script) plays the CLI so both behaviours can be forced: one that stops on
SIGINT as the engine does, one that ignores it and has started a plugin-like child.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import pytest

from provisioning.cancel import CancellableCommand, RunCancelled

CLI = """#!/bin/sh
if [ "$2" = "version" ] || [ "$1" = "version" ]; then echo v3.260.0; exit 0; fi
echo started
if [ "$MODE" = "stubborn" ]; then
  trap '' INT
  sleep 300 &
  echo "$!" > "$CHILD_PID"
  wait
fi
sleep 300 >/dev/null 2>&1 &
trap 'kill $!; echo cancelled; exit 255' INT
wait
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    cli = tmp_path / "bin" / "pulumi"
    cli.write_text(CLI)
    cli.chmod(0o755)
    return tmp_path


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _cancel_after(seconds: float) -> threading.Event:
    cancel = threading.Event()
    threading.Timer(seconds, cancel.set).start()
    return cancel


def test_a_run_stops_on_sigint_once_cancelled(root: Path, tmp_path: Path) -> None:
    command = CancellableCommand(str(root), _cancel_after(0.5), grace=30)
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(RunCancelled, match="run cancelled by its owner"):
        command.run(["up", "--yes"], str(tmp_path), {"MODE": "polite"}, on_output=lines.append)
    assert time.monotonic() - started < 10 and lines == ["started", "cancelled"]  # it stopped on SIGINT itself


def test_a_cli_ignoring_sigint_is_killed_with_its_children_after_the_grace(root: Path, tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    command = CancellableCommand(str(root), _cancel_after(0.5), grace=1.0)
    started = time.monotonic()
    with pytest.raises(RunCancelled):
        command.run(["up", "--yes"], str(tmp_path), {"MODE": "stubborn", "CHILD_PID": str(child_pid)})
    assert 1.0 <= time.monotonic() - started < 15
    child = int(child_pid.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the CLI's child outlived the kill"


def test_a_run_that_is_not_cancelled_returns_its_output(root: Path, tmp_path: Path) -> None:
    command = CancellableCommand(str(root), threading.Event())
    result = command.run(["version"], str(tmp_path), {})
    assert result.stdout == "v3.260.0" and result.code == 0
