"""The crash-safe runner: recovery from a killed run (:mod:`provisioning.recovery`), then the run.

:class:`CrashSafeRunner` wraps the plain Automation API runner (:class:`provisioning.stacks.TenantStacks`)
and satisfies the same :class:`provisioning.runs.Runner` protocol. cloudctl and the service's workers run
every stack through it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import requests
from proxmoxer import ResourceException
from pulumi import automation as auto

from clients.proxmox import client_from_env
from components.environment import PROJECT, Environment
from components.naming import ALLOCATIONS_DB_VAR, allocation_pool, ownership_tags, parse_allocation_owner
from components.spec import TenantSpec
from ipam.store import open_store
from provisioning import recovery
from provisioning.failures import is_retryable
from provisioning.runlock import StackBusy, stack_run_lock
from provisioning.runs import EventHandler, Operation, RunResult
from provisioning.stacks import TenantStacks, engine_error
from provisioning.state_backend import readable_checkpoints
from provisioning.warm_pool import claimed_warm_vmids

log = logging.getLogger(__name__)
TRANSIENT = (requests.RequestException, TimeoutError, ResourceException, ConnectionError)
"""Failures of recovery's own calls (Proxmox, the state database) that a later attempt can get past."""
READ_ONLY: tuple[Operation, ...] = ("preview", "refresh")
"""Operations that must change nothing: no recovery runs before them."""


class CrashSafeRunner:
    """The Automation API runner, made safe to call after a run (a worker, cloudctl) died mid-way.

    Recovery and the run happen under the stack's run lock (:mod:`provisioning.runlock`), which every
    cloudctl and service run takes, so nothing of ours changes the stack between them.
    """

    def __init__(
        self, stacks: TenantStacks, on_recovery: Callable[[recovery.RecoveryReport], None] | None = None
    ) -> None:
        self.stacks = stacks
        self.on_recovery = on_recovery
        """Called with every recovery report that acted (the service counts the actions in its metrics)."""

    @property
    def environment(self) -> Environment:
        """The environment of the stacks this runner applies."""
        return self.stacks.environment

    def run(
        self,
        tenant: TenantSpec,
        operation: Operation,
        on_event: EventHandler | None = None,
        cancel: threading.Event | None = None,
        *,
        refresh: bool = False,
        rotation: str | None = None,
    ) -> RunResult:
        """Recover from a dead run, then run; a destroy also removes the stack. Preview and refresh skip recovery.

        Recovery that cannot reach Proxmox or waits too long on a dead run's task fails the attempt as
        transient (the worker retries it later); the run never starts over a state recovery left unsure.
        """
        if operation in READ_ONLY:
            return self.stacks.run(tenant, operation, on_event=on_event, cancel=cancel)
        slug, started = tenant.slug, time.monotonic()

        def failed(error: str, kind: str | None) -> RunResult:
            return RunResult(slug, operation, False, time.monotonic() - started, error=error, error_kind=kind)

        try:
            with stack_run_lock(self.stacks.stack_name(slug), cancel=cancel):
                self.recover(tenant, cancel=cancel)
                return self.stacks.run(
                    tenant, operation, on_event=on_event, cancel=cancel, refresh=refresh, rotation=rotation
                )
        except StackBusy as exc:
            return failed(str(exc), "cancelled" if cancel is not None and cancel.is_set() else "transient")
        except recovery.RecoveryInterrupted as exc:
            return failed(str(exc), "cancelled")
        except TRANSIENT as exc:
            log.warning("recovery of %s could not finish (%s); retrying later", slug, type(exc).__name__)
            why = str(exc) if type(exc) is ConnectionError else type(exc).__name__  # ours: says what to check
            return failed(f"recovery from an interrupted run could not finish ({why}); the job is retried", "transient")
        except auto.CommandError as exc:  # recovery could not select or read the stack (the state backend)
            detail = engine_error(exc)
            return failed(
                f"recovery could not read the stack's state: {detail}", "transient" if is_retryable(detail) else None
            )

    def _stack_state(self, tenant: TenantSpec, stack_name: str) -> recovery.StackState:
        """The stack as recovery reads it: straight from the backend where it can (no CLI run on the happy
        path), else through the Automation API (``stack select``, ``stack export``)."""
        if readable_checkpoints():
            return recovery.BackendStackState(PROJECT, stack_name, lambda: self.stacks.stack(tenant))
        return recovery.EngineStackState(self.stacks.stack(tenant))

    def recover(
        self, tenant: TenantSpec, *, dry_run: bool = False, cancel: threading.Event | None = None
    ) -> recovery.RecoveryReport:
        """Under the stack's run lock: clear a dead run's stale lock and pending operations, delete the VMs it
        provably cloned but never recorded, refresh if state was cut; report what it cannot prove.

        ``dry_run`` changes nothing and reports what would be done. Logged as ``recovery: {json}`` whenever
        something was found.
        """
        slug, stack_name = tenant.slug, self.stacks.stack_name(tenant.slug)
        with stack_run_lock(stack_name, cancel=cancel):
            torn = recovery.remove_torn_checkpoint_files(PROJECT, stack_name, dry_run=dry_run)
            state = self._stack_state(tenant, stack_name)
            state.locks()  # the state backend first: unreadable, nothing else is worth asking
            report = recovery.RecoveryReport(state.name, dry_run=dry_run, torn_files_removed=torn)
            env = self.stacks.env_vars(tenant)
            pool = allocation_pool(self.stacks.environment.name, tenant.region)
            rows = open_store(env[ALLOCATIONS_DB_VAR]).all(pool)
            owners = {a.vmid: parse_allocation_owner(a.owner) for a in rows}
            allocated = {vmid for vmid, owner in owners.items() if owner is not None and owner[0] == slug}
            marks = recovery.TenantMarks(
                slug,
                ownership_tags(slug),
                self.stacks.environment.regions[tenant.region].pool,
            )
            warm = frozenset(claimed_warm_vmids(rows, slug))
            recovery.recover_stack(
                state, client_from_env(env=env), allocated, marks, report, cancel=cancel, adoptable=warm
            )
            if report.pending_dropped:  # state learns what the dead run left (with the org's own Dokploy key)
                refreshed = self.stacks.run(tenant, "refresh", cancel=cancel)
                report.refreshed = refreshed.ok
                if not refreshed.ok:
                    log.warning("refresh of %s after recovery failed; the run goes on: %s", state.name, refreshed.error)
        if report.acted:
            log.warning("recovery: %s", report.to_json())
            if self.on_recovery is not None and not dry_run:
                self.on_recovery(report)
        return report
