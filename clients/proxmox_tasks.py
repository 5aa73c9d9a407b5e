"""Waiting for Proxmox worker tasks (clone, vzdump, qmrestore...), with progress and clear failures."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from proxmoxer import ProxmoxAPI

POLL_SECONDS = 0.2


class TaskFailed(RuntimeError):
    """A Proxmox task ended with an error; the message has the task's own error and its UPID."""


def node_of(upid: str) -> str:
    """The node a UPID's task runs on (``UPID:<node>:...``)."""
    return upid.split(":")[1]


def wait_task(
    api: ProxmoxAPI,
    upid: str,
    *,
    timeout: float,
    what: str,
    on_progress: Callable[[str], None] | None = None,
    poll: float = POLL_SECONDS,
) -> dict[str, Any]:
    """Poll task ``upid`` until it stops; report each new log line through ``on_progress``.

    Raises :class:`TaskFailed` naming ``what`` when the task ends with an error, and ``TimeoutError`` when it
    runs longer than ``timeout`` seconds (the task goes on in Proxmox; its UPID is in the message).
    """
    node = api.nodes(node_of(upid))
    deadline, seen = time.monotonic() + timeout, 0
    while True:
        status = node.tasks(upid).status.get()
        if on_progress is not None:
            lines = node.tasks(upid).log.get(start=seen, limit=500)
            for line in lines:
                on_progress(str(line.get("t", "")))
            seen += len(lines)
        if status.get("status") == "stopped":
            if status.get("exitstatus") != "OK" and not str(status.get("exitstatus", "")).startswith("WARNINGS"):
                raise TaskFailed(f"{what} failed: {status.get('exitstatus')} (Proxmox task {upid})")
            return dict(status)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout:.0f} s; Proxmox task {upid} is still running")
        time.sleep(poll)
