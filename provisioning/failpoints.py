"""Failpoints: a worker that dies like a lost machine at an exact step of an engine run.

For the crash tests and the kill-point sweep (``tests/service_e2e/test_kill_sweep.py``). Two variables, both unset
in production (then nothing here runs):

* ``DOKPLOY_CLOUD_FAILPOINT=<operation>:<k>``: right after the engine reports the ``k``-th resource event (a step
  starting, finishing or failing) of an ``<operation>`` run (``up``, ``destroy``; counted per run), SIGKILL the process
  and every process it started (the engine, language hosts, provider plugins): nothing gets to clean up.
* ``DOKPLOY_CLOUD_EVENT_TRACE=<file>``: append one JSON line per resource event (operation, k, what step, which
  resource); the sweep's census of the steps each operation has, and where a killed worker stopped.

Events reach the Automation API through the engine's event log, which it reads every 0.1 s, so the kill lands
at most that long after the engine wrote the event.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from pulumi import automation as auto

FAILPOINT_VAR = "DOKPLOY_CLOUD_FAILPOINT"
TRACE_VAR = "DOKPLOY_CLOUD_EVENT_TRACE"
EventHandler = Callable[[auto.EngineEvent], None]


@dataclass(frozen=True)
class Failpoint:
    """Kill after the ``k``-th resource event of ``operation``."""

    operation: str
    k: int

    @classmethod
    def parse(cls, text: str) -> Failpoint:
        """``up:7`` -> Failpoint("up", 7); anything else is a clear error naming the variable."""
        operation, _, count = text.partition(":")
        if operation not in ("up", "destroy", "refresh", "preview") or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{FAILPOINT_VAR}={text!r}: expected <up|destroy|refresh|preview>:<k>, k >= 1")
        return cls(operation, int(count))


def resource_step(event: auto.EngineEvent) -> dict[str, Any] | None:
    """What a resource event says (``phase``: pre, done or failed; the step's op; the resource), else None."""
    if event.resource_pre_event is not None:
        phase, metadata = "pre", event.resource_pre_event.metadata
    elif event.res_outputs_event is not None:
        phase, metadata = "done", event.res_outputs_event.metadata
    elif event.res_op_failed_event is not None:
        phase, metadata = "failed", event.res_op_failed_event.metadata
    else:
        return None
    urn = metadata.urn
    return {"phase": phase, "op": str(metadata.op.value), "type": metadata.type, "name": urn.rsplit("::", 1)[-1]}


def watch(operation: str, on_event: EventHandler | None) -> EventHandler | None:
    """``on_event``, with the trace and failpoint of this process's environment around it (none set: as is)."""
    spec = os.environ.get(FAILPOINT_VAR)
    trace = os.environ.get(TRACE_VAR)
    if not spec and not trace:
        return on_event
    failpoint = Failpoint.parse(spec) if spec else None
    seen = itertools.count(1)
    lock = threading.Lock()

    def handle(event: auto.EngineEvent) -> None:
        if on_event is not None:
            on_event(event)
        step = resource_step(event)
        if step is None:
            return
        with lock:
            k = next(seen)
        if trace:
            with open(trace, "a", encoding="utf-8") as out:
                out.write(json.dumps({"operation": operation, "k": k, **step}) + "\n")
        if failpoint is not None and failpoint.operation == operation and failpoint.k == k:
            kill_this_machine()

    return handle


def kill_this_machine() -> None:
    """SIGKILL every process this one started (stopped first, so none forks a survivor), then this one."""
    me = psutil.Process()
    children = me.children(recursive=True)
    for child in children:
        _signal(child, signal.SIGSTOP)
    for child in me.children(recursive=True):
        _signal(child, signal.SIGKILL)
    for child in children:
        _signal(child, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _signal(process: psutil.Process, sig: signal.Signals) -> None:
    try:
        process.send_signal(sig)
    except psutil.Error:
        pass


def trace_lines(path: Path) -> list[dict[str, Any]]:
    """The events a trace file holds, oldest first (none if it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
