"""Interrupting a running engine operation when its owner must stop (a worker that lost its lease).

The Automation API runs every CLI command through ``PulumiCommand.run`` and keeps the process to
itself, and ``Stack.cancel()`` (``pulumi cancel``) only removes the backend's lock: on a file backend
the update goes on regardless. So :class:`CancellableCommand` runs the CLI itself and, once the
run's ``cancel`` event is set, sends the CLI SIGINT (the engine stops starting new steps, waits for
the ones in flight, writes its checkpoint and releases the lock), and SIGKILLs the CLI and every
process it started if that has not ended within ``grace`` seconds (the next run's crash recovery
then deals with the stale lock and pending operations).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Mapping

import psutil
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult, OnOutput, _fixup_path
from pulumi.automation.errors import create_command_error

from provisioning.toolchain import ToolchainCommand

CANCEL_GRACE_SECONDS = 30.0
"""How long a cancelled CLI may take to finish in-flight steps and write its checkpoint before SIGKILL."""


class RunCancelled(auto.CommandError):
    """The operation was interrupted because its ``cancel`` event was set."""

    def __init__(self, command: str) -> None:
        super().__init__(CommandResult(stdout="", stderr=f"run cancelled by its owner ({command})", code=-1))


class CancellableCommand(ToolchainCommand):
    """The project's CLI, whose processes are interrupted when ``cancel`` is set."""

    def __init__(self, root: str, cancel: threading.Event, grace: float = CANCEL_GRACE_SECONDS) -> None:
        super().__init__(root)
        self.cancel, self.grace = cancel, grace

    def _run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        """Run the CLI like ``PulumiCommand.run``; raise :class:`RunCancelled` if it was interrupted."""
        name = " ".join(a for a in args[:2] if not a.startswith("-"))
        if self.cancel.is_set():
            raise RunCancelled(name)
        if "--non-interactive" not in args:
            args.insert(0, "--non-interactive")
        env = _fixup_path(
            {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}, os.path.dirname(self.command)
        )
        out: list[str] = []
        err: list[str] = []
        with subprocess.Popen(
            [self.command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env, encoding="utf-8"
        ) as process:
            readers = [
                threading.Thread(target=_consume, args=(process.stdout, on_output, out), daemon=True),
                threading.Thread(target=_consume, args=(process.stderr, on_error, err), daemon=True),
            ]
            for reader in readers:
                reader.start()
            done, interrupted = threading.Event(), threading.Event()
            watcher = threading.Thread(target=self._watch, args=(process, done, interrupted), daemon=True)
            watcher.start()
            for reader in readers:
                reader.join()
            process.wait()
            done.set()
            watcher.join()
        if interrupted.is_set():
            raise RunCancelled(name)
        result = CommandResult(stdout="\n".join(out), stderr="\n".join(err), code=process.returncode)
        if process.returncode != 0:
            raise create_command_error(result)
        return result

    def _watch(self, process: subprocess.Popen[str], done: threading.Event, interrupted: threading.Event) -> None:
        """SIGINT the CLI once cancelled; SIGKILL it and its descendants after the grace period."""
        while not done.is_set():
            if self.cancel.wait(0.1):
                break
        if done.is_set():
            return
        interrupted.set()
        process.send_signal(signal.SIGINT)
        if done.wait(self.grace):
            return
        kill_tree(process.pid)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process below it (plugins, language host, policy packs).

    The tree is read before anything is killed: orphans are re-parented and could no longer be found.
    """
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in tree:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def _consume(stream: object, callback: OnOutput | None, lines: list[str]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        stripped = line.rstrip()
        if callback:
            callback(stripped)
        lines.append(stripped)
    stream.close()  # type: ignore[attr-defined]
