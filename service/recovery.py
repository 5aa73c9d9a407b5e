"""Recovering a tenant stack from a run that died: stale locks and pending operations.

What the CLI (3.260) does, checked against a file backend: an update writes
``<backend>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json`` holding ``pid``, ``hostname``
and ``timestamp``, and removes it when it ends; a SIGKILLed update leaves it behind and every later
update fails with "the stack is currently locked". ``pulumi cancel`` (``Stack.cancel()``) on the file
backend deletes the stack's lock files without checking whether their owner lives, so the decision
is ours: a lock is stale when its process is gone (same host) or it is older than
:data:`FOREIGN_LOCK_GRACE_SECONDS` (another host, whose processes we cannot see). On other backends
(Pulumi Cloud) locks are not files; the service relies on ``cancel`` there only through the runner's
lock retries, never blindly.

A process killed mid-update also leaves ``pending_operations`` in the checkpoint (resources being
created/updated/deleted when it died). Pulumi's documented recovery is: export the stack, review and
drop the pending operations, import it back, refresh. We log each dropped operation (type and URN, no
property values) and refresh so the state learns what actually exists; our providers find and adopt
half-created resources on the next ``up``. (CLI 3.260's ``stack import`` itself also drops pending
operations, warning "removing pending operation 'creating' on '<urn>' from snapshot"; we remove them
before importing so the decision and the log line are ours, whatever the CLI version does.)
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from provisioning.toolchain import backend_url

log = logging.getLogger(__name__)
FOREIGN_LOCK_GRACE_SECONDS = 3600.0


def lock_files(stack: auto.Stack) -> list[Path]:
    """The stack's lock files on a file backend (empty for any other backend)."""
    url = backend_url()
    if not url.startswith("file://"):
        return []
    project = stack.workspace.project_settings().name
    directory = Path(url[len("file://"):]) / ".pulumi" / "locks" / "organization" / project / stack.name.split("/")[-1]
    return sorted(p for p in directory.glob("*.json")) if directory.is_dir() else []


def lock_is_stale(info: dict[str, Any], now: float | None = None) -> bool:
    """Whether the process that wrote lock ``info`` is certainly gone."""
    if info.get("hostname") == socket.gethostname():
        pid = info.get("pid")
        return not isinstance(pid, int) or not _alive(pid)
    written = _timestamp(info.get("timestamp"))
    return written is not None and (time.time() if now is None else now) - written > FOREIGN_LOCK_GRACE_SECONDS


def clear_stale_lock(stack: auto.Stack) -> bool:
    """Cancel the stack's lock if every lock file on it is stale; True when one was cleared."""
    files = lock_files(stack)
    if not files:
        return False
    infos = [_read_json(f) for f in files]
    if not all(lock_is_stale(info) for info in infos):
        return False  # a live run holds it: the runner's lock retries wait for it
    log.warning("clearing stale lock on %s (left by pid %s)", stack.name, [i.get("pid") for i in infos])
    stack.cancel()
    return True


def pending_operations(stack: auto.Stack) -> list[dict[str, Any]]:
    """The checkpoint's pending operations (as exported)."""
    deployment = stack.export_stack().deployment or {}
    return list(deployment.get("pending_operations") or [])


def clear_pending_operations(stack: auto.Stack) -> list[dict[str, Any]]:
    """Drop pending operations left by a killed run (export, edit, import); return what was dropped."""
    exported = stack.export_stack()
    deployment = dict(exported.deployment or {})
    pending = list(deployment.get("pending_operations") or [])
    if not pending:
        return []
    for op in pending:
        log.warning("dropping pending %s of %s on %s", op.get("type"), (op.get("resource") or {}).get("urn"), stack.name)
    deployment.pop("pending_operations", None)
    stack.import_stack(auto.Deployment(version=exported.version, deployment=deployment))
    return pending


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:  # RFC 3339 with nanoseconds: keep microseconds
        head, _, frac = value.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()
    except ValueError:
        return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
