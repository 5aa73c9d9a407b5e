"""The per-stack run lock that cloudctl, workers and recovery share: exclusive, re-entrant, gone with its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from provisioning.runlock import StackBusy, lock_path, stack_run_lock
from provisioning.toolchain import PROJECT_DIR

HOLDER = """
import sys, time
from provisioning.runlock import stack_run_lock
with stack_run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture(autouse=True)
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    return tmp_path / "backend"


def _holder(stack: str) -> subprocess.Popen[str]:
    """Another process (a cloudctl run) holding ``stack``'s lock."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, stack],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_the_lock_lives_beside_a_file_backends_state(backend: Path) -> None:
    assert lock_path("local.acme").parent.parent == backend


def test_another_process_holding_the_stack_keeps_us_out_until_it_dies() -> None:
    holder = _holder("local.acme")
    try:
        with pytest.raises(StackBusy, match=r"local.acme is being run or recovered by another process"):
            with stack_run_lock("local.acme", wait=0.3):
                pass
        with stack_run_lock("local.other", wait=0.3):  # other stacks are not affected
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    with stack_run_lock("local.acme", wait=5):  # a SIGKILLed holder leaves nothing behind
        pass


def test_the_lock_is_reentrant_in_a_thread_and_exclusive_between_threads() -> None:
    outcome: list[str] = []

    def other_thread() -> None:
        try:
            with stack_run_lock("local.acme", wait=0.3):
                outcome.append("entered")
        except StackBusy:
            outcome.append("busy")

    with stack_run_lock("local.acme"):
        with stack_run_lock("local.acme", wait=0):  # recovery inside a run of the same worker
            thread = threading.Thread(target=other_thread)
            thread.start()
            thread.join()
    assert outcome == ["busy"]


def test_a_cancelled_waiter_stops_waiting() -> None:
    cancel = threading.Event()
    cancel.set()
    holder = _holder("local.acme")
    try:
        started = time.monotonic()
        with pytest.raises(StackBusy):
            with stack_run_lock("local.acme", wait=30, cancel=cancel):
                pass
        assert time.monotonic() - started < 5
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
