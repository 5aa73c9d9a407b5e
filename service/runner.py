"""What a worker needs from the engine: ``run(slug, operation, on_event) -> RunResult``.

:class:`EngineRunner` is the real one (``provisioning.runner.TenantStacks`` plus recovery from
crashed runs, see :mod:`service.recovery`); tests inject a fake with the same shape.
"""
from __future__ import annotations

import logging
import time
from typing import Protocol

import requests
from proxmoxer import ResourceException  # type: ignore[import-untyped]

from providers.allocation_store import open_store
from providers.proxmox_api import client_from_env
from provisioning.runner import EventHandler, Operation, RunResult, TenantStacks
from service import recovery

log = logging.getLogger(__name__)
TRANSIENT = (requests.RequestException, TimeoutError, ResourceException)
"""Failures of recovery's own Proxmox calls that a later attempt can get past."""


class Runner(Protocol):
    """Runs one engine operation on one tenant's stack."""

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None) -> RunResult:
        """Apply/destroy/... the tenant's stack; failures come back as ``RunResult(ok=False, error=...)``."""


class EngineRunner:
    """The Automation API runner, made safe to call after a worker died mid-run.

    The worker calling this holds the tenant's lease, so no other service worker can be running this
    stack: a lock left on it is stale unless a live process on this host (an operator's CLI) holds it.
    """

    def __init__(self, stacks: TenantStacks) -> None:
        self.stacks = stacks

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None) -> RunResult:
        """Recover from a dead run, then run; a destroy also removes the stack.

        Recovery that cannot reach Proxmox or waits too long on a dead run's task fails the attempt as
        transient (the worker retries it later); the run never starts over a state recovery left unsure.
        """
        started = time.monotonic()
        try:
            self.recover(slug)
        except TRANSIENT as exc:
            log.warning("recovery of %s could not finish (%s); retrying later", slug, type(exc).__name__)
            return RunResult(slug, operation, False, time.monotonic() - started, error_kind="transient",
                             error=f"recovery from an interrupted run could not finish ({type(exc).__name__}); "
                                   "the job is retried")
        return self.stacks.run(slug, operation, on_event=on_event, remove_stack=True)

    def recover(self, slug: str) -> recovery.RecoveryReport:
        """Clear a stale lock and pending operations, delete VMs no state owns, refresh if state was cut.

        Logged as ``recovery: {json}`` whenever something was found.
        """
        spec = self.stacks.spec(slug)
        stack = self.stacks.stack(slug, spec)
        report = recovery.RecoveryReport(stack.name)
        report.lock_cleared = recovery.clear_stale_lock(stack)
        report.pending_dropped = [f"{op.get('type')} {str((op.get('resource') or {}).get('urn', '')).rsplit('::', 1)[-1]}"
                                  for op in recovery.clear_pending_operations(stack)]
        env = self.stacks.env_vars(spec)
        pool = f"{self.stacks.environment.name}/{spec.region}"
        recovery.recover_orphan_vms(client_from_env(env=env), open_store(env["ALLOCATIONS_DB"]),
                                    pool, slug, recovery.state_vmids(stack), report)
        if report.pending_dropped:  # state learns what the dead run left (with the org's own Dokploy key)
            refreshed = self.stacks.run(slug, "refresh", remove_stack=False)
            report.refreshed = refreshed.ok
            if not refreshed.ok:
                log.warning("refresh of %s after recovery failed; the run goes on: %s", stack.name, refreshed.error)
        if report.acted:
            log.warning("recovery: %s", report.to_json())
        return report
