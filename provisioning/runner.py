"""Apply, preview, refresh and destroy tenant stacks (``<env>.<slug>``) through the Automation API.

The program is the project's own ``__main__.py`` (a local workspace on the project directory), so a
run here is exactly what ``pulumi up -s <env>.<slug>`` from CI does. Credentials are decrypted once
from the environment stack's secret config (or taken from the process environment, which wins) and
handed to each run as environment variables.
"""
from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pulumi import automation as auto

from components.environment import SECRET_KEYS, Environment, load_environment
from components.spec import TenantSpec, load_tenant
from policies.runtime import policy_args
from provisioning.cancel import RunCancelled
from provisioning.dokploy_keys import RunKeyError, SweepReport, organization_key, platform_client, sweep
from provisioning.key_ledger import KeyLedger
from provisioning.runlock import StackBusy, stack_run_lock
from provisioning.secrets import environment_secrets
from provisioning.toolchain import PROJECT_DIR, STATE_DIR, engine_env, pulumi_command

Operation = Literal["up", "preview", "refresh", "destroy"]
EventHandler = Callable[[auto.EngineEvent], None]
LOCK_RETRIES = 5
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@")


@dataclass
class RunResult:
    """What one engine operation did."""

    slug: str
    operation: Operation
    ok: bool
    seconds: float
    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None
    """``"transient"`` when the failure is known to pass on its own (worth retrying), ``"cancelled"`` when
    the run was interrupted through its ``cancel`` event, else None."""


class TenantStacks:
    """The tenant stacks of one environment."""

    def __init__(self, env_name: str, *, tenants_dir: Path | None = None, extra_env: dict[str, str] | None = None,
                 enforce_policies: bool = True) -> None:
        self.env_name = env_name
        self.tenants_dir = tenants_dir or PROJECT_DIR / "tenants"
        self.environment: Environment = load_environment(PROJECT_DIR, env_name)
        self._extra_env = dict(extra_env or {})
        self._secrets: dict[str, str] | None = None
        self.enforce_policies = enforce_policies

    def spec(self, slug: str) -> TenantSpec:
        """The validated declaration of ``slug``."""
        return load_tenant(self.tenants_dir / f"{slug}.yaml", self.environment.plans, regions=self.environment.regions)

    def secrets(self) -> dict[str, str]:
        """The environment's credentials as environment variables (decrypted once)."""
        if self._secrets is None:
            self._secrets = environment_secrets(self.env_name, engine_env(self._extra_env), SECRET_KEYS)
        return self._secrets

    def allocations_location(self) -> str:
        """``ALLOCATIONS_DB``: a SQLite path or a ``postgresql://`` URL (default: a file in ``.state/``)."""
        return (self._extra_env.get("ALLOCATIONS_DB") or os.environ.get("ALLOCATIONS_DB")
                or str(STATE_DIR / f"allocations-{self.env_name}.sqlite"))

    def workspace(self) -> auto.LocalWorkspace:
        """A workspace on the project and backend, for reading stacks (no credentials in it)."""
        return auto.LocalWorkspace(work_dir=str(PROJECT_DIR), env_vars=engine_env(self._extra_env),
                                   pulumi_command=pulumi_command())

    def env_vars(self, spec: TenantSpec, dokploy_key: str | None = None) -> dict[str, str]:
        """Environment for a run of ``spec``'s stack: engine settings, credentials, region endpoint."""
        region = self.environment.regions[spec.region]
        return engine_env({
            "DOKPLOY_CLOUD_TENANTS_DIR": str(self.tenants_dir),
            "DOKPLOY_URL": self.environment.dokploy_url,
            "PDNS_API_URL": self.environment.dns_api_url,
            "ALLOCATIONS_DB": self.allocations_location(),
            "PROXMOX_VE_ENDPOINT": region.endpoint,
            "PROXMOX_VE_INSECURE": "true" if region.insecure else "false",
            **self.secrets(),
            **({"DOKPLOY_API_KEY": dokploy_key} if dokploy_key else {}),
            **self._extra_env,
        })

    def key_ledger(self) -> KeyLedger:
        """The per-run Dokploy keys not yet known revoked: ``DOKPLOY_KEY_LEDGER``, else next to the allocations."""
        allocations = self.allocations_location()
        beside = STATE_DIR if "://" in allocations else Path(allocations).parent
        path = os.environ.get("DOKPLOY_KEY_LEDGER") or beside / f"dokploy-keys-{self.env_name}.sqlite"
        return KeyLedger(path)

    def sweep_keys(self) -> SweepReport:
        """Revoke per-run keys whose revocation failed or whose run died (see :func:`provisioning.dokploy_keys.sweep`)."""
        platform = platform_client(self.environment.dokploy_url, self.secrets()["DOKPLOY_API_KEY"])
        return sweep(platform, self.env_name, self.key_ledger())

    def _policies(self) -> dict[str, Any]:
        """The mandatory quota pack, attached to every preview and up (as CI's `pulumi up` does)."""
        return policy_args(self.env_name, self.environment) if self.enforce_policies else {}

    def stack_name(self, slug: str) -> str:
        """``<env>.<slug>``."""
        return f"{self.env_name}.{slug}"

    def stack(self, slug: str, spec: TenantSpec | None = None, dokploy_key: str | None = None,
              cancel: threading.Event | None = None) -> auto.Stack:
        """Create or select ``<env>.<slug>`` on the project's program; its CLI runs stop once ``cancel`` is set."""
        spec = spec or self.spec(slug)
        opts = auto.LocalWorkspaceOptions(work_dir=str(PROJECT_DIR), env_vars=self.env_vars(spec, dokploy_key),
                                          pulumi_command=pulumi_command(cancel))
        return auto.create_or_select_stack(stack_name=self.stack_name(slug), work_dir=str(PROJECT_DIR), opts=opts)

    def run(self, slug: str, operation: Operation, on_event: EventHandler | None = None,
            remove_stack: bool = True, cancel: threading.Event | None = None) -> RunResult:
        """Run ``operation`` on the tenant's stack, holding its run lock (:mod:`provisioning.runlock`).

        Retries while another update holds the engine's lock. Setting ``cancel`` interrupts the run
        (:mod:`provisioning.cancel`); it then ends with ``error_kind="cancelled"``.
        """
        started = time.monotonic()
        try:
            with stack_run_lock(self.stack_name(slug), cancel=cancel):
                return self._run_locked(slug, operation, on_event, remove_stack, cancel, started)
        except StackBusy as exc:
            return RunResult(slug, operation, False, time.monotonic() - started, error=str(exc),
                             error_kind="cancelled" if cancel is not None and cancel.is_set() else "transient")

    def _run_locked(self, slug: str, operation: Operation, on_event: EventHandler | None, remove_stack: bool,
                    cancel: threading.Event | None, started: float) -> RunResult:
        for attempt in range(LOCK_RETRIES):
            if cancel is not None and cancel.is_set():
                return RunResult(slug, operation, False, time.monotonic() - started, error_kind="cancelled",
                                 error=f"{operation} of {self.stack_name(slug)} cancelled before it started")
            try:
                result = self._run_once(slug, operation, on_event, remove_stack, cancel)
                result.seconds = time.monotonic() - started
                return result
            except RunCancelled:
                return RunResult(slug, operation, False, time.monotonic() - started, error_kind="cancelled",
                                 error=f"{operation} of {self.stack_name(slug)} was interrupted by its owner; "
                                       "running it again converges")
            except auto.ConcurrentUpdateError:
                if attempt == LOCK_RETRIES - 1:
                    return RunResult(slug, operation, False, time.monotonic() - started,
                                     error=f"stack {self.env_name}.{slug} is locked by another update; "
                                           "if no run is active, `scripts/cloudctl recover <slug>` clears a stale lock",
                                     error_kind="transient")
                (cancel or threading.Event()).wait(min(2 ** attempt, 10))
            except auto.CommandError as exc:
                return RunResult(slug, operation, False, time.monotonic() - started, error=engine_error(exc))
            except RunKeyError as exc:  # nothing ran: Dokploy's outage is the job's to wait out, not the tenant's
                return RunResult(slug, operation, False, time.monotonic() - started, error=str(exc),
                                 error_kind="transient" if exc.transient else None)
        raise AssertionError("unreachable")

    def _run_once(self, slug: str, operation: Operation, on_event: EventHandler | None,
                  remove_stack: bool, cancel: threading.Event | None = None) -> RunResult:
        spec = self.spec(slug)
        platform = platform_client(self.environment.dokploy_url, self.secrets()["DOKPLOY_API_KEY"])
        with organization_key(platform, spec.dokploy_organization, env=self.env_name,
                              stack=f"{self.env_name}.{slug}", ledger=self.key_ledger()) as key:
            return self._operate(self.stack(slug, spec, key, cancel), slug, operation, on_event, remove_stack)

    def _operate(self, stack: auto.Stack, slug: str, operation: Operation, on_event: EventHandler | None,
                 remove_stack: bool) -> RunResult:
        if operation == "up":
            up = stack.up(on_event=on_event, color="never", suppress_progress=True, **self._policies())
            return RunResult(slug, operation, True, 0.0, dict(up.summary.resource_changes or {}),
                             {k: v.value for k, v in up.outputs.items() if not v.secret})
        if operation == "preview":
            preview = stack.preview(on_event=on_event, color="never", suppress_progress=True, **self._policies())
            return RunResult(slug, operation, True, 0.0, dict(preview.change_summary))
        if operation == "refresh":
            refresh = stack.refresh(on_event=on_event, color="never", suppress_progress=True)
            return RunResult(slug, operation, True, 0.0, dict(refresh.summary.resource_changes or {}))
        destroy = stack.destroy(on_event=on_event, color="never", suppress_progress=True)
        if remove_stack:
            stack.workspace.remove_stack(stack.name)
        return RunResult(slug, operation, True, 0.0, dict(destroy.summary.resource_changes or {}))


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
