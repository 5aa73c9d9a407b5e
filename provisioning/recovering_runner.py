"""What a worker needs from the engine: ``run(slug, operation, on_event, cancel) -> RunResult``.

:class:`EngineRunner` is the real one (``provisioning.runner.TenantStacks`` plus recovery from
crashed runs, see :mod:`provisioning.recovery`); tests inject a fake with the same shape.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import requests
from proxmoxer import ResourceException  # type: ignore[import-untyped]
from pulumi import automation as auto

from components.tenant_vm import tenant_tags
from ipam.store import open_store
from clients.proxmox import client_from_env
from provisioning.runlock import StackBusy, stack_run_lock
from provisioning.runner import EventHandler, Operation, RunResult, TenantStacks, engine_error
import provisioning.recovery as recovery
from provisioning.failures import is_retryable

log = logging.getLogger(__name__)
TRANSIENT = (requests.RequestException, TimeoutError, ResourceException)
"""Failures of recovery's own Proxmox calls that a later attempt can get past."""
READ_ONLY: tuple[Operation, ...] = ("preview", "refresh")
"""Operations that must change nothing: no recovery runs before them."""


class Runner(Protocol):
    """Runs one engine operation on one tenant's stack."""

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None,
            cancel: threading.Event | None = None) -> RunResult:
        """Apply/destroy/... the tenant's stack; failures come back as ``RunResult(ok=False, error=...)``.

        Setting ``cancel`` interrupts the run soon (``error_kind="cancelled"``).
        """


class EngineRunner:
    """The Automation API runner, made safe to call after a worker died mid-run.

    Recovery and the run happen under the stack's run lock (:mod:`provisioning.runlock`), which every
    cloudctl and service run takes, so nothing of ours changes the stack between them.
    """

    def __init__(self, stacks: TenantStacks) -> None:
        self.stacks = stacks

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None,
            cancel: threading.Event | None = None) -> RunResult:
        """Recover from a dead run, then run; a destroy also removes the stack. Preview and refresh skip recovery.

        Recovery that cannot reach Proxmox or waits too long on a dead run's task fails the attempt as
        transient (the worker retries it later); the run never starts over a state recovery left unsure.
        """
        if operation in READ_ONLY:
            return self.stacks.run(slug, operation, on_event=on_event, cancel=cancel)
        started = time.monotonic()
        try:
            with stack_run_lock(self.stacks.stack_name(slug), cancel=cancel):
                self.recover(slug, cancel=cancel)
                return self.stacks.run(slug, operation, on_event=on_event, remove_stack=True, cancel=cancel)
        except StackBusy as exc:
            return RunResult(slug, operation, False, time.monotonic() - started, error=str(exc),
                             error_kind="cancelled" if cancel is not None and cancel.is_set() else "transient")
        except recovery.RecoveryInterrupted as exc:
            return RunResult(slug, operation, False, time.monotonic() - started, error=str(exc), error_kind="cancelled")
        except TRANSIENT as exc:
            log.warning("recovery of %s could not finish (%s); retrying later", slug, type(exc).__name__)
            return RunResult(slug, operation, False, time.monotonic() - started, error_kind="transient",
                             error=f"recovery from an interrupted run could not finish ({type(exc).__name__}); "
                                   "the job is retried")
        except auto.CommandError as exc:  # recovery could not select or read the stack (the state backend)
            detail = engine_error(exc)
            return RunResult(slug, operation, False, time.monotonic() - started,
                             error=f"recovery could not read the stack's state: {detail}",
                             error_kind="transient" if is_retryable(detail) else None)

    def recover(self, slug: str, *, dry_run: bool = False,
                cancel: threading.Event | None = None) -> recovery.RecoveryReport:
        """Under the stack's run lock: clear a dead run's stale lock and pending operations, delete the VMs it
        provably cloned but never recorded, refresh if state was cut; report what it cannot prove.

        ``dry_run`` changes nothing and reports what would be done. Logged as ``recovery: {json}`` whenever
        something was found.
        """
        with stack_run_lock(self.stacks.stack_name(slug), cancel=cancel):
            spec = self.stacks.spec(slug)
            torn = recovery.remove_torn_checkpoint_files(self.stacks.workspace().project_settings().name,
                                                         self.stacks.stack_name(slug), dry_run=dry_run)
            stack = self.stacks.stack(slug, spec)
            report = recovery.RecoveryReport(stack.name, dry_run=dry_run, torn_files_removed=torn)
            env = self.stacks.env_vars(spec)
            pool = f"{self.stacks.environment.name}/{spec.region}"
            allocated = {a.vmid for a in open_store(env["ALLOCATIONS_DB"]).all(pool)
                         if a.owner.split("/", 1)[0] == slug}
            marks = recovery.TenantMarks(slug, frozenset(t for t in tenant_tags(spec) if not t.startswith("plan-")),
                                         self.stacks.environment.regions[spec.region].pool)
            recovery.recover_stack(recovery.EngineStackState(stack), client_from_env(env=env), allocated, marks,
                                   report, cancel=cancel)
            if report.pending_dropped:  # state learns what the dead run left (with the org's own Dokploy key)
                refreshed = self.stacks.run(slug, "refresh", remove_stack=False, cancel=cancel)
                report.refreshed = refreshed.ok
                if not refreshed.ok:
                    log.warning("refresh of %s after recovery failed; the run goes on: %s", stack.name, refreshed.error)
        if report.acted:
            log.warning("recovery: %s", report.to_json())
        return report
