"""The plain Automation API runner: apply, preview, refresh and destroy tenant stacks (``<env>.<slug>``).

The program is the project's own ``__main__.py`` (a local workspace on the project directory), so a
run here is exactly what ``pulumi up -s <env>.<slug>`` does. Credentials are decrypted once from the
environment stack's secret config (or taken from the process environment, which wins) and handed to
each run as environment variables, next to the tenant's declaration (:mod:`provisioning.declarations`).
:class:`TenantStacks` satisfies :class:`provisioning.runs.Runner`; :class:`provisioning.runner.CrashSafeRunner`
adds recovery from killed runs on top of it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from proxmoxer import ResourceException
from pulumi import automation as auto

from clients.dokploy.client import DokployClient
from clients.proxmox import ProxmoxSettingsError, client_from_env, cluster_guests
from clients.retry import RetryPolicy
from components.environment import PROJECT, SECRET_KEYS, Environment, Region, load_environment
from components.naming import (
    ALLOCATIONS_DB_VAR,
    DOKPLOY_API_KEY_VAR,
    DOKPLOY_KEY_LEDGER_VAR,
    DOKPLOY_URL_VAR,
    KEY_ROTATION_VAR,
    PDNS_API_URL_VAR,
    PROXMOX_ENDPOINT_VAR,
    PROXMOX_INSECURE_VAR,
    VM_TYPE,
    WARM_SERVERS_VAR,
    allocation_pool,
    backup_job_id,
    ownership_tags,
    parse_allocation_owner,
    stack_name,
)
from components.spec import TenantSpec
from ipam.placement import NO_ROOM
from ipam.store import open_store
from policies.runtime import policy_args
from provisioning import failpoints
from provisioning.archive import Archive, ArchiveFailed, archive_tenant, list_archives, tenant_hostnames
from provisioning.backups import servers_in_state
from provisioning.cancel import RunCancelled
from provisioning.declarations import engine_variables
from provisioning.dokploy_keys import (
    RunKeyError,
    SweepReport,
    organization_key,
    platform_client,
    sweep,
)
from provisioning.firewall_rules import (
    backup_job_recorded,
    clear_unrecorded_backup_job,
    clear_unrecorded_rules,
    vms_without_rules,
)
from provisioning.key_ledger import KeyLedger
from provisioning.lean_engine import EventReadbackStack, LeanWorkspace
from provisioning.pending_changes import apply_pending
from provisioning.recovery import TenantMarks, deployment_vmids
from provisioning.runlock import StackBusy, stack_run_lock
from provisioning.runs import EventHandler, Operation, RunResult
from provisioning.secrets import environment_secrets
from provisioning.state_backend import may_have_checkpoint, readable_checkpoints, stack_deployment
from provisioning.toolchain import PROJECT_DIR, STATE_DIR, engine_env, pulumi_command
from provisioning.unrecorded import delete_unrecorded
from provisioning.vanished import forget_vanished, vanished
from provisioning.warm_pool import WarmPool, warm_servers

log = logging.getLogger(__name__)
STACK_LOCK_RETRY = RetryPolicy(attempts=5, initial=1.0, maximum=10.0)
"""While another update holds the engine's lock: 5 tries, 1, 2, 4 and 8 s apart."""
TRANSIENT_ARCHIVE = (requests.RequestException, TimeoutError)


def transient_archive_failure(cause: BaseException | None) -> bool:
    """Whether an archive failed for a reason that passes: a network error, a timeout, or Proxmox answering 5xx."""
    if isinstance(cause, TRANSIENT_ARCHIVE):
        return True
    return isinstance(cause, ResourceException) and int(getattr(cause, "status_code", 0) or 0) >= 500


"""Archive failures worth retrying: Proxmox unreachable, a task or lock that took too long."""
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")


class _CancelledBeforeStart(Exception):
    """The run's ``cancel`` was set before an attempt started."""


class TenantStacks:
    """The tenant stacks of one environment."""

    def __init__(
        self, env_name: str, *, extra_env: dict[str, str] | None = None, enforce_policies: bool = True
    ) -> None:
        self.env_name = env_name
        self.environment: Environment = load_environment(PROJECT_DIR, env_name)
        self._extra_env = dict(extra_env or {})
        self._secrets: dict[str, str] | None = None
        self.enforce_policies = enforce_policies

    def secrets(self) -> dict[str, str]:
        """The environment's credentials as environment variables (decrypted once)."""
        if self._secrets is None:
            self._secrets = environment_secrets(self.env_name, engine_env(self._extra_env), SECRET_KEYS)
        return self._secrets

    def allocations_location(self) -> str:
        """``ALLOCATIONS_DB``: a SQLite path or a ``postgresql://`` URL (default: a file in ``.state/``)."""
        return (
            self._extra_env.get(ALLOCATIONS_DB_VAR)
            or os.environ.get(ALLOCATIONS_DB_VAR)
            or str(STATE_DIR / f"allocations-{self.env_name}.sqlite")
        )

    def cli_env(self) -> dict[str, str]:
        """Environment for a CLI command on this environment's stacks (backend, engine settings; no credentials)."""
        return engine_env(self._extra_env)

    def workspace(self) -> auto.LocalWorkspace:
        """A workspace on the project and backend, for reading stacks (no credentials in it)."""
        return auto.LocalWorkspace(
            work_dir=str(PROJECT_DIR), env_vars=engine_env(self._extra_env), pulumi_command=pulumi_command()
        )

    def env_vars(
        self,
        tenant: TenantSpec,
        dokploy_key: str | None = None,
        warm: frozenset[int] = frozenset(),
        rotation: str | None = None,
    ) -> dict[str, str]:
        """Environment for a run of ``tenant``'s stack: engine settings, credentials, region endpoint, declaration,
        which servers came from the warm pool, and the key rotation the run makes (if any)."""
        region = self.environment.regions[tenant.region]
        return engine_env(
            {
                DOKPLOY_URL_VAR: self.environment.dokploy_url,
                PDNS_API_URL_VAR: self.environment.dns_api_url,
                ALLOCATIONS_DB_VAR: self.allocations_location(),
                **region_variables(region),
                **engine_variables(tenant),
                **self.secrets(),
                **({DOKPLOY_API_KEY_VAR: dokploy_key} if dokploy_key else {}),
                **({WARM_SERVERS_VAR: ",".join(str(i) for i in sorted(warm))} if warm else {}),
                **({KEY_ROTATION_VAR: rotation} if rotation else {}),
                **self._extra_env,
            }
        )

    def region_variables(self, region: str) -> dict[str, str]:
        """The variables that point a Proxmox client at region ``region`` of this environment."""
        return region_variables(self.environment.regions[region])

    def key_ledger(self) -> KeyLedger:
        """The per-run Dokploy keys not yet known revoked: ``DOKPLOY_KEY_LEDGER``, else next to the allocations."""
        allocations = self.allocations_location()
        beside = STATE_DIR if "://" in allocations else Path(allocations).parent
        path = os.environ.get(DOKPLOY_KEY_LEDGER_VAR) or beside / f"dokploy-keys-{self.env_name}.sqlite"
        return KeyLedger(path)

    def warm_pool(self) -> WarmPool:
        """The environment's warm pools (:mod:`provisioning.warm_pool`)."""
        return WarmPool(self)

    def warm_servers(self, tenant: TenantSpec) -> frozenset[int]:
        """Indexes of ``tenant``'s servers whose VM came from its region's warm pool (none without a pool)."""
        if self.environment.regions[tenant.region].warm_pool is None:
            return frozenset()
        rows = open_store(self.allocations_location()).all(allocation_pool(self.env_name, tenant.region))
        return frozenset(warm_servers(rows, tenant.slug))

    def dokploy_platform(self) -> DokployClient:
        """The platform user's Dokploy client (mints and revokes organisation keys)."""
        return platform_client(self.environment.dokploy_url, self.secrets()[DOKPLOY_API_KEY_VAR])

    def sweep_keys(self) -> SweepReport:
        """Revoke per-run keys whose revocation failed or whose run died (:func:`provisioning.dokploy_keys.sweep`)."""
        return sweep(self.dokploy_platform(), self.env_name, self.key_ledger())

    def _policies(self) -> dict[str, Any]:
        """The mandatory quota pack, attached to every preview and up (as CI's `pulumi up` does)."""
        return policy_args(self.env_name, self.environment) if self.enforce_policies else {}

    def stack_name(self, slug: str) -> str:
        """``<env>.<slug>``."""
        return stack_name(self.env_name, slug)

    def stack(
        self,
        tenant: TenantSpec,
        dokploy_key: str | None = None,
        cancel: threading.Event | None = None,
        rotation: str | None = None,
    ) -> auto.Stack:
        """Create or select ``tenant``'s stack on the project's program; its CLI runs stop once ``cancel`` is set."""
        workspace = LeanWorkspace(
            work_dir=str(PROJECT_DIR),
            env_vars=self.env_vars(tenant, dokploy_key, self.warm_servers(tenant), rotation),
            pulumi_command=pulumi_command(cancel),
        )
        return EventReadbackStack.open(self.stack_name(tenant.slug), workspace)

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
        """Run ``operation`` on the tenant's stack, holding its run lock (:mod:`provisioning.runlock`).

        ``rotation`` (an ``up`` only): a rotation request's id; the run gives the tenant a new SSH key pair.

        Retries while another update holds the engine's lock. Setting ``cancel`` interrupts the run
        (:mod:`provisioning.cancel`); it then ends with ``error_kind="cancelled"``. A destroy also removes
        the stack.
        """
        started = time.monotonic()
        try:
            with stack_run_lock(self.stack_name(tenant.slug), cancel=cancel):
                return self._run_locked(tenant, operation, on_event, cancel, started, refresh, rotation)
        except StackBusy as exc:
            return RunResult(
                tenant.slug,
                operation,
                False,
                time.monotonic() - started,
                error=str(exc),
                error_kind="cancelled" if cancel is not None and cancel.is_set() else "transient",
            )

    def _run_locked(
        self,
        tenant: TenantSpec,
        operation: Operation,
        on_event: EventHandler | None,
        cancel: threading.Event | None,
        started: float,
        refresh: bool = False,
        rotation: str | None = None,
    ) -> RunResult:
        slug, stack_name = tenant.slug, self.stack_name(tenant.slug)

        def attempt() -> RunResult:
            if cancel is not None and cancel.is_set():
                raise _CancelledBeforeStart
            return self._run_once(tenant, operation, on_event, cancel, refresh, rotation)

        def failed(error: str, kind: str | None = None) -> RunResult:
            return RunResult(slug, operation, False, time.monotonic() - started, error=error, error_kind=kind)

        if operation == "up" and self.environment.regions[tenant.region].warm_pool is not None:
            try:
                self.claim_warm(tenant)
            except (requests.RequestException, ResourceException) as exc:
                return failed(
                    f"claiming warm-pool VMs of {tenant.region} failed; the run is retried: {exc}", "transient"
                )
        if operation == "up":
            try:
                self.clear_unrecorded_rules(tenant)
            except (requests.RequestException, ResourceException) as exc:
                return failed(f"reading {slug}'s VM firewall rules failed; the run is retried: {exc}", "transient")
        archived: dict[str, Any] = {}
        if operation in ("destroy", "up"):
            try:
                archived = self.archive_before_destroy(tenant, cancel, only_removed=operation == "up")
            except ArchiveFailed as exc:
                return failed(str(exc), "transient" if transient_archive_failure(exc.__cause__) else None)

        def attempts() -> RunResult:
            try:
                result = STACK_LOCK_RETRY.call(attempt, lambda exc: isinstance(exc, auto.ConcurrentUpdateError), cancel)
            except _CancelledBeforeStart:
                return failed(f"{operation} of {stack_name} cancelled before it started", "cancelled")
            except RunCancelled:
                return failed(
                    f"{operation} of {stack_name} was interrupted by its owner; running it again converges", "cancelled"
                )
            except auto.ConcurrentUpdateError:
                return failed(
                    f"stack {stack_name} is locked by another update; "
                    "if no run is active, `scripts/cloudctl recover <slug>` clears a stale lock",
                    "transient",
                )
            except auto.CommandError as exc:
                return failed(engine_error(exc))
            except RunKeyError as exc:  # nothing ran: Dokploy's outage is the job's to wait out, not the tenant's
                return failed(str(exc), "transient" if exc.transient else None)
            return result

        if operation == "destroy":
            try:
                self.before_destroy(tenant)
            except (requests.RequestException, ResourceException, ProxmoxSettingsError, TimeoutError) as exc:
                return failed(f"listing {slug}'s VMs before the destroy failed; the run is retried: {exc}", "transient")
        result = attempts()
        if operation == "up" and not result.ok and NO_ROOM in (result.error or "") and self._yield_warm(tenant):
            result = attempts()  # a warm VM gave its room to this cold signup
        if not result.ok:
            return result
        if operation == "up" and refresh:
            try:
                self.apply_pending_changes(tenant)
            except (requests.RequestException, ResourceException, TimeoutError) as exc:
                return failed(f"applying {slug}'s pending VM changes failed; the run is retried: {exc}", "transient")
        result.seconds = time.monotonic() - started
        if operation == "destroy":
            result.outputs.update(archived)
        elif archived:  # servers a downgrade removed
            result.outputs["removedServersArchived"] = archived["archives"]
        return result

    def _yield_warm(self, tenant: TenantSpec) -> bool:
        """Give a cold run that found no node with room the room of one of its region's warm VMs."""
        if self.environment.regions[tenant.region].warm_pool is None:
            return False
        try:
            return self.warm_pool().yield_capacity(tenant.region) is not None
        except (requests.RequestException, ResourceException, StackBusy) as exc:
            log.warning("warm pool of %s could not give room to %s: %s", tenant.region, tenant.slug, exc)
            return False

    def before_destroy(self, tenant: TenantSpec) -> None:
        """Make the destroy able to remove everything: delete VMs cloned for the tenant that no state records
        (:mod:`provisioning.unrecorded`), and drop VMs the cluster no longer has from the state
        (:mod:`provisioning.vanished`)."""
        deployment = stack_deployment(PROJECT, self.stack_name(tenant.slug)) or {}
        pool = allocation_pool(self.env_name, tenant.region)
        allocated = {
            a.vmid: owner[1]
            for a in open_store(self.allocations_location()).all(pool)
            if (owner := parse_allocation_owner(a.owner)) is not None and owner[0] == tenant.slug
        }
        if not deployment_vmids(deployment) and not allocated:
            return
        api = client_from_env(env=self.env_vars(tenant))
        marks = TenantMarks(tenant.slug, ownership_tags(tenant.slug), self.environment.regions[tenant.region].pool)
        delete_unrecorded(api, deployment, allocated, marks)
        present = {int(vm["vmid"]) for vm in cluster_guests(api)}
        if vanished(deployment, present):
            forget_vanished(self.stack(tenant), present)

    def apply_pending_changes(self, tenant: TenantSpec) -> list[int]:
        """After a retried ``up``: apply hardware changes Proxmox still holds pending
        (:mod:`provisioning.pending_changes`)."""
        deployment = stack_deployment(PROJECT, self.stack_name(tenant.slug)) or {}
        vms = [
            (str((r.get("outputs") or {}).get("nodeName")), int(r["id"]))
            for r in deployment.get("resources") or []
            if r.get("type") == VM_TYPE and str(r.get("id", "")).isdigit() and (r.get("outputs") or {}).get("nodeName")
        ]
        if not vms:
            return []
        return apply_pending(client_from_env(env=self.env_vars(tenant)), vms)

    def clear_unrecorded_rules(self, tenant: TenantSpec) -> list[int]:
        """Remove firewall rules and a backup job an earlier run created but never recorded
        (:mod:`provisioning.firewall_rules`); the VM ids whose rules were removed."""
        deployment = stack_deployment(PROJECT, self.stack_name(tenant.slug)) or {}
        cleared: list[int] = []
        if vms_without_rules(deployment):
            marks = TenantMarks(tenant.slug, ownership_tags(tenant.slug), self.environment.regions[tenant.region].pool)
            cleared = clear_unrecorded_rules(client_from_env(env=self.env_vars(tenant)), deployment, marks)
        if deployment and self.environment.plans[tenant.plan].backups and not backup_job_recorded(deployment):
            clear_unrecorded_backup_job(
                client_from_env(env=self.env_vars(tenant)), backup_job_id(self.env_name, tenant.slug)
            )
        return cleared

    def claim_warm(self, tenant: TenantSpec) -> list[int]:
        """Claim ready warm-pool VMs for the tenant's servers without an allocation, and clear the pool's own
        firewall rule from claimed VMs the stack does not record yet (also those an earlier, killed run claimed).
        The indexes claimed now."""
        pool = self.warm_pool()
        claimed = pool.claim(tenant)
        recorded = deployment_vmids(stack_deployment(PROJECT, self.stack_name(tenant.slug)) or {})
        pool.release_warm_rules(tenant, self.warm_servers(tenant), recorded)
        return claimed

    def archive_before_destroy(
        self, tenant: TenantSpec, cancel: threading.Event | None = None, *, only_removed: bool = False
    ) -> dict[str, Any]:
        """Take the final backup of each server the stack holds (:mod:`provisioning.archive`); return what
        the run's result reports: ``archivedUntil`` and ``archives``. No servers, nothing to archive.

        ``only_removed``: before an ``up``, only the servers the declaration no longer has (a downgrade to
        fewer servers destroys them)."""
        if not may_have_checkpoint(PROJECT, self.stack_name(tenant.slug)):
            return {}  # a stack never created (a signup): nothing to archive, no engine call spent finding that out
        stack = self.stack(tenant, cancel=cancel)
        servers = servers_in_state(stack.export_stack().deployment or {}, tenant.slug)
        if only_removed:
            servers = [s for s in servers if s.index >= tenant.servers]
        if not servers and only_removed:
            return {}
        reason = "downgrade" if only_removed else "decommission"
        try:
            api = client_from_env(env=self.env_vars(tenant))
            present = {int(vm["vmid"]) for vm in cluster_guests(api)}
            # a VM an earlier attempt archived and then destroyed (its delete not recorded, or the run died):
            # its archive is that attempt's; there is nothing left to back up
            gone = [s for s in servers if s.vmid not in present]
            servers = [s for s in servers if s.vmid in present]
            archives = []
            if servers:
                hostnames = tenant_hostnames(tenant, self.environment)
                archives = archive_tenant(api, self.environment, tenant, servers, hostnames, reason=reason)
            if gone or not archives:
                earlier = self._earlier_archives(api, tenant, reason)
                indexes = {s.index for s in gone} if gone else None
                archives += [a for a in earlier if indexes is None or a.server in indexes]
                for server in gone:
                    if server.index not in {a.server for a in earlier}:
                        log.warning(
                            "%s server %d (VM %s) is gone and no archive of it was found; nothing left to archive",
                            tenant.slug,
                            server.index,
                            server.vmid,
                        )
        except (requests.RequestException, ProxmoxSettingsError) as exc:
            raise ArchiveFailed(
                f"archive of {tenant.slug} could not reach Proxmox, so nothing was destroyed: {exc}"
            ) from exc
        if not archives:
            return {}
        return {
            "archivedUntil": min(a.delete_after for a in archives),
            "archives": [a.to_json() for a in archives],
        }

    def _earlier_archives(self, api: Any, tenant: TenantSpec, reason: str = "decommission") -> list[Archive]:
        """The newest ``reason`` archive of each server of the tenant (what an earlier attempt made)."""
        if self.environment.archive is None:
            return []
        node = self.environment.regions[tenant.region].nodes[0]
        found = list_archives(api, self.environment.name, self.environment.archive.storage, node, tenant.slug)
        newest: dict[int, Archive] = {}
        for archive in sorted(found, key=lambda a: a.ctime):
            if archive.reason == reason:
                newest[archive.server] = archive
        return list(newest.values())

    def _run_once(
        self,
        tenant: TenantSpec,
        operation: Operation,
        on_event: EventHandler | None,
        cancel: threading.Event | None = None,
        refresh: bool = False,
        rotation: str | None = None,
    ) -> RunResult:
        with organization_key(
            self.dokploy_platform(),
            tenant.dokploy_organization,
            env=self.env_name,
            stack=self.stack_name(tenant.slug),
            ledger=self.key_ledger(),
        ) as key:
            stack = self.stack(tenant, key, cancel, rotation if operation == "up" else None)
            return self._operate(stack, tenant.slug, operation, on_event, refresh)

    @staticmethod
    def _refresh_vms(stack: auto.Stack, on_event: EventHandler | None) -> None:
        """Read the stack's VMs back before an ``up`` that follows a failed run.

        Only the VMs: what a failed run leaves claimed but undone is theirs (a half-created disk, the pool, memory,
        power), and bpg finds a migrated VM on its new node, while a firewall resource of a VM an earlier attempt
        migrated is read on the node its state names and fails ("Configuration file ... does not exist")."""
        deployment: Mapping[str, Any]
        if readable_checkpoints():
            deployment = stack_deployment(PROJECT, stack.name) or {}
        else:
            deployment = stack.export_stack().deployment or {}
        urns = [str(r["urn"]) for r in deployment.get("resources") or [] if r.get("type") == VM_TYPE]
        if urns:
            stack.refresh(target=urns, on_event=on_event, color="never", suppress_progress=True)

    def _operate(
        self, stack: auto.Stack, slug: str, operation: Operation, on_event: EventHandler | None, refresh: bool = False
    ) -> RunResult:
        on_event = failpoints.watch(operation, on_event)
        if operation == "up":
            if refresh:
                self._refresh_vms(stack, on_event)
            up = stack.up(on_event=on_event, color="never", suppress_progress=True, **self._policies())
            return RunResult(
                slug,
                operation,
                True,
                0.0,
                _counts(up.summary.resource_changes),
                {k: v.value for k, v in up.outputs.items() if not v.secret},
            )
        if operation == "preview":
            preview = stack.preview(on_event=on_event, color="never", suppress_progress=True, **self._policies())
            return RunResult(slug, operation, True, 0.0, _counts(preview.change_summary))
        if operation == "refresh":
            refreshed = stack.refresh(on_event=on_event, color="never", suppress_progress=True)
            return RunResult(slug, operation, True, 0.0, _counts(refreshed.summary.resource_changes))
        destroy = stack.destroy(on_event=on_event, color="never", suppress_progress=True)
        stack.workspace.remove_stack(stack.name)
        return RunResult(slug, operation, True, 0.0, _counts(destroy.summary.resource_changes))


def region_variables(region: Region) -> dict[str, str]:
    """The variables that point a Proxmox client (ours or the provider's) at ``region``'s cluster."""
    return {PROXMOX_ENDPOINT_VAR: region.endpoint, PROXMOX_INSECURE_VAR: "true" if region.insecure else "false"}


def _counts(changes: Mapping[Any, int] | None) -> dict[str, int]:
    """Resource changes by operation name (``create``, ``same``...)."""
    return {str(getattr(op, "value", op)): count for op, count in (changes or {}).items()}


def engine_error(exc: auto.CommandError) -> str:
    """The engine's diagnostics, with Python tracebacks reduced to their final exception line and any
    password in a URL (a state backend DSN the CLI echoes) masked."""
    text = URL_PASSWORD.sub(r"\1:***@", str(exc))
    section = text.split("Diagnostics:", 1)[1] if "Diagnostics:" in text else text
    section = re.split(r"\n(?:Resources|Outputs|Duration):", section, maxsplit=1)[0]
    kept: list[str] = []
    in_traceback = False
    for line in section.splitlines():
        stripped = line.strip()
        if "Traceback (most recent call last)" in stripped:
            in_traceback = True
            continue
        if in_traceback:
            if line.startswith("      ") or not stripped or stripped.startswith(("File ", "^", "~")):
                continue
            in_traceback = False
        if stripped and stripped not in ("error: update failed", "error: preview failed"):
            kept.append(stripped)
    return "\n".join(dict.fromkeys(kept)) or "pulumi failed; run with the CLI for the full log"
