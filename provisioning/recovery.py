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

Recovery only destroys what it can prove (see :func:`recover_stack`): it acts only with evidence of a
crash (a stale lock of a dead process, or pending operations), never while a live run holds the
stack, and deletes a VM only when its tags and pool name this tenant of this environment. Everything
else it finds is reported (``RecoveryReport.unproven_vms``) for an operator. Callers hold the stack's
run lock (:mod:`provisioning.runlock`) throughout, so no run of ours changes the state meanwhile.
"""

from __future__ import annotations

import json
import logging
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psutil
from proxmoxer import ProxmoxAPI
from proxmoxer.tools import Tasks
from pulumi import automation as auto

from clients.proxmox import cluster_vms
from clients.retry import RetryPolicy
from components.naming import VM_TYPE
from components.tenant_vm import TIMEOUTS
from providers.dokploy_server import DEFAULTS as DOKPLOY_SERVER_DEFAULTS
from provisioning import state_backend

log = logging.getLogger(__name__)
LONGEST_RUN_SECONDS = float(sum(TIMEOUTS.values()) + DOKPLOY_SERVER_DEFAULTS["ready_timeout"])
"""The longest a legitimate run may take: every VM step's timeout (clone, create, start, reboot) plus setup."""
FOREIGN_LOCK_GRACE_SECONDS = LONGEST_RUN_SECONDS + 600.0
"""Age after which another host's lock counts as stale: beyond the longest legitimate run, plus engine start-up."""
TASK_WAIT_SECONDS = 600.0
"""Longest wait for a Proxmox task a dead run started (a full clone of a big disk)."""
LOCK_POLL_SECONDS = 0.5
"""How often a VM held by a dead run's task is looked at again."""
TASK_POLL_SECONDS = 0.2
"""How often recovery's own stop and delete tasks are polled."""


class RecoveryInterrupted(RuntimeError):
    """Recovery stopped because its run was cancelled (the worker lost its lease)."""


@dataclass
class RecoveryReport:
    """What recovery found and did on one stack; logged as one JSON line, never holding secrets."""

    stack: str
    dry_run: bool = False
    crash_evidence: list[str] = field(default_factory=list)
    """Why recovery may act: a stale lock of a dead process and/or pending operations; empty: it only reports."""
    live_lock: list[str] = field(default_factory=list)
    """``pid P on HOST`` of live runs holding the engine's lock: recovery then changes nothing."""
    lock_cleared: bool = False
    pending_dropped: list[str] = field(default_factory=list)
    """``<op type> <resource name>`` of each pending operation dropped from the checkpoint."""
    waited_for_tasks: dict[int, str] = field(default_factory=dict)
    """VM id -> the lock (clone, destroyed...) a dead run's task held on it when recovery started."""
    orphan_vms_deleted: list[int] = field(default_factory=list)
    warm_vms_kept: list[int] = field(default_factory=list)
    """Claimed warm-pool VMs no state holds yet: kept, since the next ``up`` adopts them (never clones them)."""
    unproven_vms: list[dict[str, Any]] = field(default_factory=list)
    """``{vmid, node, reason}`` of VMs at the tenant's allocated ids that no state holds and that recovery
    left alone: no crash evidence, a dry run, or tags/pool that do not prove the VM is this tenant's."""
    refreshed: bool = False
    torn_files_removed: list[str] = field(default_factory=list)
    """Empty checkpoint sidecars a killed CLI left on a file backend (see :func:`remove_torn_checkpoint_files`)."""

    @property
    def acted(self) -> bool:
        """Whether anything was found to recover or to report."""
        return bool(
            self.lock_cleared
            or self.torn_files_removed
            or self.pending_dropped
            or self.waited_for_tasks
            or self.orphan_vms_deleted
            or self.warm_vms_kept
            or self.unproven_vms
            or self.live_lock
            or self.crash_evidence
        )

    def to_json(self) -> str:
        """One line of JSON for the log."""
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class TenantMarks:
    """What proves a VM is this tenant's: the tags and the pool the program gives its VMs."""

    slug: str
    tags: frozenset[str]
    """Tags every VM of the tenant carries (``dokploy-cloud``, ``tenant-<slug>``)."""
    pool: str
    """The region's Proxmox pool that every tenant VM of the environment lives in (``regions.<r>.pool``)."""

    def gaps(self, tags: set[str], pool: str | None) -> list[str]:
        """Why a VM with ``tags`` in ``pool`` is not provably this tenant's (empty: it is)."""
        gaps = [f"tag {tag!r} missing" for tag in sorted(self.tags - tags)]
        if pool != self.pool:
            gaps.append(f"pool is {pool!r}, not {self.pool!r}")
        return gaps


class StackState(Protocol):
    """The parts of a stack recovery reads and changes (:class:`EngineStackState` on the engine)."""

    name: str

    def locks(self) -> list[dict[str, Any]]:
        """The engine lock files' contents (pid, hostname, timestamp)."""

    def clear_lock(self) -> None:
        """Remove the engine's lock."""

    def pending(self) -> list[dict[str, Any]]:
        """The checkpoint's pending operations."""

    def drop_pending(self) -> list[dict[str, Any]]:
        """Remove the pending operations from the checkpoint; return them."""

    def vmids(self) -> set[int]:
        """VM ids of the VMs the checkpoint holds (read afresh on every call)."""


class EngineStackState:
    """:class:`StackState` of a real stack through the Automation API."""

    def __init__(self, stack: auto.Stack) -> None:
        self.stack, self.name = stack, stack.name

    def locks(self) -> list[dict[str, Any]]:
        return state_backend.lock_records(self.stack.workspace.project_settings().name, self.name)

    def clear_lock(self) -> None:
        self.stack.cancel()

    def pending(self) -> list[dict[str, Any]]:
        return pending_operations(self.stack)

    def drop_pending(self) -> list[dict[str, Any]]:
        return clear_pending_operations(self.stack)

    def vmids(self) -> set[int]:
        return state_vmids(self.stack)


class BackendStackState:
    """:class:`StackState` read straight from the backend (:func:`state_backend.stack_deployment`): no CLI
    runs unless recovery has to change the stack, when ``open_stack`` gives the Automation API's stack."""

    def __init__(self, project: str, name: str, open_stack: Callable[[], auto.Stack]) -> None:
        self.project, self.name, self._open_stack = project, name, open_stack
        self._stack: auto.Stack | None = None

    def _engine(self) -> auto.Stack:
        if self._stack is None:
            self._stack = self._open_stack()
        return self._stack

    def _deployment(self) -> dict[str, Any]:
        return state_backend.stack_deployment(self.project, self.name) or {}

    def locks(self) -> list[dict[str, Any]]:
        return state_backend.lock_records(self.project, self.name)

    def clear_lock(self) -> None:
        self._engine().cancel()

    def pending(self) -> list[dict[str, Any]]:
        return list(self._deployment().get("pending_operations") or [])

    def drop_pending(self) -> list[dict[str, Any]]:
        return clear_pending_operations(self._engine())

    def vmids(self) -> set[int]:
        return deployment_vmids(self._deployment())


def lock_is_stale(info: dict[str, Any], now: float | None = None) -> bool:
    """Whether the process that wrote lock ``info`` is certainly gone."""
    if info.get("hostname") == socket.gethostname():
        pid = info.get("pid")
        return not isinstance(pid, int) or not psutil.pid_exists(pid)
    written = _timestamp(info.get("timestamp"))
    return written is not None and (time.time() if now is None else now) - written > FOREIGN_LOCK_GRACE_SECONDS


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
        log.warning(
            "dropping pending %s of %s on %s", op.get("type"), (op.get("resource") or {}).get("urn"), stack.name
        )
    deployment.pop("pending_operations", None)
    stack.import_stack(auto.Deployment(version=exported.version, deployment=deployment))
    return pending


def state_vmids(stack: auto.Stack) -> set[int]:
    """VM ids of the proxmoxve VMs the stack's checkpoint holds (pending operations excluded)."""
    return deployment_vmids(stack.export_stack().deployment or {})


def deployment_vmids(deployment: Mapping[str, Any]) -> set[int]:
    """VM ids of the proxmoxve VMs an exported deployment holds (pending operations excluded)."""
    return {
        int(r["id"])
        for r in deployment.get("resources") or []
        if r.get("type") == VM_TYPE and str(r.get("id", "")).isdigit()
    }


def remove_torn_checkpoint_files(project: str, stack: str, *, dry_run: bool = False) -> list[str]:
    """Remove the torn checkpoint sidecars a killed CLI left, unless a live process holds the engine's lock.

    Runs before the stack is selected: with a torn sidecar even ``pulumi stack select`` fails. The caller
    holds the stack's run lock, so none of our processes is writing it; a live engine lock (an operator's
    own ``pulumi``) means it may be mid-write, and then nothing is touched.
    """
    torn = state_backend.torn_attributes(project, stack)
    if not torn or dry_run or any(not lock_is_stale(info) for info in state_backend.lock_records(project, stack)):
        return []
    for path in torn:
        log.warning("recovery of %s: removing torn checkpoint sidecar %s left by a killed run", stack, path.name)
        path.unlink(missing_ok=True)
    return [path.name for path in torn]


def recover_stack(
    state: StackState,
    api: ProxmoxAPI,
    allocated: set[int],
    marks: TenantMarks,
    report: RecoveryReport,
    *,
    timeout: float = TASK_WAIT_SECONDS,
    cancel: threading.Event | None = None,
    adoptable: frozenset[int] = frozenset(),
) -> None:
    """Clear what a dead run left on ``state`` and delete the VMs it provably cloned; report the rest.

    The caller holds the stack's run lock. Nothing changes while a live process holds the engine's lock,
    or without crash evidence (then unrecorded VMs at ``allocated`` ids are only reported), or in a
    ``report.dry_run``. ``adoptable``: allocated VM ids the next ``up`` adopts rather than clones (warm-pool
    VMs the tenant claimed); they are never deleted.
    """
    locks = state.locks()
    live = [info for info in locks if not lock_is_stale(info)]
    if live:
        report.live_lock = [f"pid {i.get('pid')} on {i.get('hostname')}" for i in live]
        return
    if locks:
        report.crash_evidence.append(f"stale lock of dead process(es) {sorted(str(i.get('pid')) for i in locks)}")
    pending = state.pending()
    if pending:
        report.crash_evidence.append("pending operations: " + ", ".join(_describe(op) for op in pending))
    act = bool(report.crash_evidence) and not report.dry_run
    if act and locks:
        log.warning("clearing stale lock on %s (left by pid %s)", state.name, [i.get("pid") for i in locks])
        state.clear_lock()
        report.lock_cleared = True
    if act and pending:
        report.pending_dropped = [_describe(op) for op in state.drop_pending()]
    recover_orphan_vms(
        api, allocated, marks, state.vmids, report, act=act, timeout=timeout, cancel=cancel, adoptable=adoptable
    )


def recover_orphan_vms(
    api: ProxmoxAPI,
    allocated: set[int],
    marks: TenantMarks,
    owned: Callable[[], set[int]],
    report: RecoveryReport,
    *,
    act: bool,
    timeout: float = TASK_WAIT_SECONDS,
    cancel: threading.Event | None = None,
    adoptable: frozenset[int] = frozenset(),
) -> None:
    """Wait out dead runs' tasks on the tenant's allocated VMs, then delete those no state owns (except the
    ``adoptable`` ones: claimed warm-pool VMs, which the next ``up`` adopts; cloning them again is impossible).

    A VM at an id allocated to the tenant that ``owned()`` (the state's VMs, re-read after every wait)
    lacks was cloned by a run that died before recording it: it never reached the tenant, so deleting it
    and cloning again is safe, provided its tags and pool prove it is this tenant's (``marks``). Why not
    import it: bpg (0.111) already treats a clone's "already exists" as done and adopts whatever VM sits
    at the id, but (a) while the dead run's clone task still holds the VM, every later step fails on its
    lock, and (b) a VM the dead run already booted keeps the cloud-init (keys, address) of that boot.
    Waiting out the task and deleting avoids both. Without ``act`` (no crash evidence, or a dry run)
    nothing is waited for or deleted: unrecorded VMs are reported.
    """
    if not allocated:
        return
    present = {int(vm["vmid"]): vm for vm in cluster_vms(api) if int(vm["vmid"]) in allocated}
    recorded = owned()
    for vmid, vm in sorted(present.items()):
        node = str(vm["node"])
        if not act:
            if vmid not in recorded:
                why = "dry run" if report.dry_run else "no crash evidence (no stale lock, no pending operations)"
                _unproven(report, vmid, node, f"not in the stack's state; left alone: {why}")
            continue
        if not _wait_unlocked(api, node, vmid, report, timeout, cancel):
            continue  # the dead run's task deleted it
        if vmid in owned():  # re-read: the state is the truth after any wait
            continue
        if vmid in adoptable:
            log.warning("recovery of %s: keeping claimed warm VM %s for the next up to adopt", report.stack, vmid)
            report.warm_vms_kept.append(vmid)
            continue
        gaps = marks.gaps(*tags_and_pool(api, vmid))
        if gaps:
            _unproven(
                report, vmid, node, "not in the stack's state, but not provably this tenant's: " + "; ".join(gaps)
            )
            continue
        log.warning(
            "deleting VM %s on %s: cloned for %s by a run that died before recording it", vmid, node, marks.slug
        )
        delete_vm(api, node, vmid, timeout)
        report.orphan_vms_deleted.append(vmid)


def _unproven(report: RecoveryReport, vmid: int, node: str, reason: str) -> None:
    log.warning(
        "recovery of %s: VM %s on %s %s; left for an operator (unless the next up records it)",
        report.stack,
        vmid,
        node,
        reason,
    )
    report.unproven_vms.append({"vmid": vmid, "node": node, "reason": reason})


def tags_and_pool(api: ProxmoxAPI, vmid: int) -> tuple[set[str], str | None]:
    """The VM's tags and pool as the cluster reports them now."""
    for vm in cluster_vms(api):
        if int(vm["vmid"]) == vmid:
            return {t for t in re.split(r"[;, ]+", str(vm.get("tags") or "")) if t}, vm.get("pool")
    return set(), None


def _describe(op: dict[str, Any]) -> str:
    return f"{op.get('type')} {str((op.get('resource') or {}).get('urn', '')).rsplit('::', 1)[-1]}"


class _StillLocked(TimeoutError):
    """A dead run's task still holds the VM (raised once more when the wait gives up)."""


def _wait_unlocked(
    api: ProxmoxAPI, node: str, vmid: int, report: RecoveryReport, timeout: float, cancel: threading.Event | None = None
) -> bool:
    """Wait until no task holds VM ``vmid``; False when it is gone meanwhile."""

    def unlocked() -> bool:
        if cancel is not None and cancel.is_set():
            raise RecoveryInterrupted(f"recovery of {report.stack} cancelled while waiting for VM {vmid}")
        try:
            lock = api.nodes(node).qemu(vmid).config.get().get("lock")
        except Exception as exc:  # proxmoxer's ResourceException: 500 "does not exist" once destroyed
            if "does not exist" in str(exc):
                return False
            raise
        if lock:
            report.waited_for_tasks.setdefault(vmid, str(lock))
            raise _StillLocked(f"VM {vmid} is still locked ({lock}) after {timeout:.0f} s; check its task on {node}")
        return True

    polls = RetryPolicy(
        attempts=max(1, math.ceil(timeout / LOCK_POLL_SECONDS)) + 1,
        initial=LOCK_POLL_SECONDS,
        maximum=LOCK_POLL_SECONDS,
    )
    return polls.call(unlocked, lambda exc: isinstance(exc, _StillLocked), cancel)


def delete_vm(api: ProxmoxAPI, node: str, vmid: int, timeout: float) -> None:
    """Stop VM ``vmid`` if it runs, then delete it with its disks (each task waited for)."""
    vm = api.nodes(node).qemu(vmid)
    if vm.status.current.get().get("status") == "running":
        wait_task(api, vm.status.stop.post(), timeout)
    wait_task(api, vm.delete(purge=1, **{"destroy-unreferenced-disks": 1}), timeout)


def wait_task(api: ProxmoxAPI, upid: str, timeout: float) -> None:
    """Wait for Proxmox task ``upid`` to end (proxmoxer's own poll); raise unless it ended OK."""
    status = Tasks.blocking_status(api, upid, timeout=timeout, polling_interval=TASK_POLL_SECONDS)
    if status is None:
        raise TimeoutError(f"Proxmox task {upid} did not finish within {timeout:.0f} s")
    if status.get("exitstatus") != "OK":
        raise RuntimeError(f"Proxmox task {upid} failed: {status.get('exitstatus')}")


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:  # RFC 3339 with nanoseconds: keep microseconds
        head, _, frac = value.rstrip("Z").partition(".")
        return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()
    except ValueError:
        return None
