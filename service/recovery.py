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

Dropping a pending create forgets a VM the dead run may already have cloned; the next ``up`` would
then clone onto the same (allocated) VM id and fail for ever. Our allocation makes such a VM
findable: :func:`recover_orphan_vms` compares the tenant's allocated VM ids with the cluster and the
state, waits out tasks the dead run left on them, and deletes the VMs no state owns.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from proxmoxer import ProxmoxAPI  # type: ignore[import-untyped]
from pulumi import automation as auto

from providers.allocation_store import AllocationStore
from provisioning import state_backend
from provisioning.toolchain import backend_url

log = logging.getLogger(__name__)
FOREIGN_LOCK_GRACE_SECONDS = 3600.0
VM_TYPE_SUFFIX = "vmLegacy:VmLegacy"
TASK_WAIT_SECONDS = 600.0
"""Longest wait for a Proxmox task a dead run started (a full clone of a big disk)."""


@dataclass
class RecoveryReport:
    """What recovery did to one stack before a run; logged as one JSON line, never holding secrets."""

    stack: str
    lock_cleared: bool = False
    pending_dropped: list[str] = field(default_factory=list)
    """``<op type> <resource name>`` of each pending operation dropped from the checkpoint."""
    waited_for_tasks: dict[int, str] = field(default_factory=dict)
    """VM id -> the lock (clone, destroyed...) a dead run's task held on it when recovery started."""
    orphan_vms_deleted: list[int] = field(default_factory=list)
    refreshed: bool = False

    @property
    def acted(self) -> bool:
        """Whether anything was found to recover."""
        return bool(self.lock_cleared or self.pending_dropped or self.waited_for_tasks or self.orphan_vms_deleted)

    def to_json(self) -> str:
        """One line of JSON for the log."""
        return json.dumps(asdict(self), sort_keys=True)


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
    infos = state_backend.lock_records(stack.workspace.project_settings().name, stack.name)
    if not infos:
        return False
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


def state_vmids(stack: auto.Stack) -> set[int]:
    """VM ids of the proxmoxve VMs the stack's checkpoint holds (pending operations excluded)."""
    deployment = stack.export_stack().deployment or {}
    return {int(r["id"]) for r in deployment.get("resources") or []
            if str(r.get("type", "")).endswith(VM_TYPE_SUFFIX) and str(r.get("id", "")).isdigit()}


def recover_orphan_vms(api: ProxmoxAPI, allocations: AllocationStore, pool: str, slug: str, owned: set[int],
                       report: RecoveryReport, *, timeout: float = TASK_WAIT_SECONDS) -> None:
    """Wait out dead runs' tasks on the tenant's allocated VMs, then delete those no state owns.

    A VM at an id allocated to ``<slug>/<index>`` that is not in ``owned`` (the state's VMs) was
    cloned by a run that died before recording it: it never reached the tenant, so deleting it and
    cloning again is safe. Why not import it: bpg (0.111) already treats a clone's "already exists"
    as done and adopts whatever VM sits at the id, but (a) while the dead run's clone task still holds
    the VM, every later step fails on its lock, and (b) a VM the dead run already booted keeps the
    cloud-init (keys, address) of that boot. Waiting out the task and deleting avoids both.
    """
    ids = {a.vmid for a in allocations.all(pool) if a.owner.split("/", 1)[0] == slug}
    present = {int(vm["vmid"]): vm for vm in api.cluster.resources.get(type="vm")
               if vm.get("type") == "qemu" and int(vm["vmid"]) in ids}
    crashed = report.lock_cleared or bool(report.pending_dropped)
    for vmid, vm in sorted(present.items()):
        if vmid in owned and not crashed:
            continue  # no sign of a dead run: a lock on a recorded VM (a backup) is the engine's to meet
        if not _wait_unlocked(api, str(vm["node"]), vmid, report, timeout):
            continue  # the dead run's task deleted it
        if vmid in owned:
            continue
        log.warning("deleting VM %s on %s: cloned for %s by a run that died before recording it",
                    vmid, vm["node"], slug)
        _delete_vm(api, str(vm["node"]), vmid, timeout)
        report.orphan_vms_deleted.append(vmid)


def _wait_unlocked(api: ProxmoxAPI, node: str, vmid: int, report: RecoveryReport, timeout: float) -> bool:
    """Wait until no task holds VM ``vmid``; False when it is gone meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock = api.nodes(node).qemu(vmid).config.get().get("lock")
        except Exception as exc:  # proxmoxer's ResourceException: 500 "does not exist" once destroyed
            if "does not exist" in str(exc):
                return False
            raise
        if not lock:
            return True
        report.waited_for_tasks.setdefault(vmid, str(lock))
        if time.monotonic() > deadline:
            raise TimeoutError(f"VM {vmid} is still locked ({lock}) after {timeout:.0f} s; check its task on {node}")
        time.sleep(0.5)


def _delete_vm(api: ProxmoxAPI, node: str, vmid: int, timeout: float) -> None:
    vm = api.nodes(node).qemu(vmid)
    if vm.status.current.get().get("status") == "running":
        _wait_task(api, node, vm.status.stop.post(), timeout)
    _wait_task(api, node, vm.delete(purge=1, **{"destroy-unreferenced-disks": 1}), timeout)


def _wait_task(api: ProxmoxAPI, node: str, upid: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.nodes(node).tasks(upid).status.get()
        if status.get("status") == "stopped":
            if status.get("exitstatus") != "OK":
                raise RuntimeError(f"Proxmox task {upid} failed: {status.get('exitstatus')}")
            return
        time.sleep(0.2)
    raise TimeoutError(f"Proxmox task {upid} did not finish within {timeout:.0f} s")


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
