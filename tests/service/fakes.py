"""A fake engine honest about what it does: per-tenant state files, converging creates, real event shapes.

It stands in for the provisioning runner (:class:`provisioning.runs.Runner`): ``up`` applies the declaration
it is handed (and keeps it in the tenant's state, as the real stack keeps its inputs), walks the same
resource types the real program creates (emitting resource pre/outputs events as the engine does),
creates each resource only if the tenant's state lacks it (an engine converges), saves state after
every resource (so a process killed mid-run leaves partial state behind) and appends every real
change to ``effects.log``. Failures are injected per tenant through ``faults.json``.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from components.environment import Environment, load_environment
from components.spec import TenantSpec, dump_tenant
from provisioning.runs import EventHandler, Operation, RunResult
from provisioning.toolchain import PROJECT_DIR

RESOURCES = (  # (name suffix, type token as the engine reports it)
    ("alloc", "pulumi-python:dynamic/ipam:Allocation"),
    ("sshkey", "pulumi-python:dynamic/ssh:KeyPair"),
    ("vm", "proxmoxve:index/vmLegacy:VmLegacy"),
    ("dns", "pulumi-python:dynamic/dns:Record"),
    ("dokploy", "pulumi-python:dynamic/dokploy:Server"),
)


class FakeEngine:
    """``run(tenant, operation, on_event, cancel) -> RunResult`` over files in ``state_dir``."""

    def __init__(self, state_dir: Path, step_seconds: float = 0.0, label: str = "", env_name: str = "local") -> None:
        self.state_dir, self.step_seconds = Path(state_dir), step_seconds
        self.environment: Environment = load_environment(PROJECT_DIR, env_name)
        self.label = label
        """Appended to this instance's effect lines (`` by <label>``), to tell engines sharing a state apart."""
        self.state_dir.mkdir(parents=True, exist_ok=True)

    # -- inspection and fault injection (used by tests) ----------------------------------------------------------
    def state(self, slug: str) -> dict[str, Any] | None:
        """The tenant's saved stack state, or None when it has no stack."""
        path = self.state_dir / f"{slug}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def declaration(self, slug: str) -> str | None:
        """The declaration (YAML) the tenant's last ``up`` applied, or None."""
        state = self.state(slug)
        return None if state is None else state.get("declaration")

    def effects(self) -> list[str]:
        """Every create/delete performed, in order."""
        path = self.state_dir / "effects.log"
        return path.read_text().splitlines() if path.exists() else []

    def fail_next(self, slug: str, error: str, at: str = "dns", times: int = 1) -> None:
        """Make the next ``times`` runs of ``slug`` fail with ``error`` when they reach resource ``at``."""
        faults = self._faults()
        faults.setdefault(slug, []).extend([{"error": error, "at": at}] * times)
        (self.state_dir / "faults.json").write_text(json.dumps(faults))

    # -- the runner ----------------------------------------------------------------------------------------------
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
        """Apply or destroy the fake stack of ``tenant``; a set ``cancel`` stops it before the next resource
        (``refresh`` is recorded as a ``refresh <slug>`` effect)."""
        if refresh:
            self._effect(f"refresh {tenant.slug}")
        if rotation:
            self._effect(f"rotate {tenant.slug} {rotation}")
        started, slug = time.monotonic(), tenant.slug
        fault = self._take_fault(slug)
        if operation == "destroy":
            return self._destroy(slug, started)
        state = self.state(slug) or {"resources": {}}
        state["declaration"] = dump_tenant(tenant)
        created = 0
        for name, type_ in RESOURCES:
            urn = f"urn:pulumi:local.{slug}::dokploy-cloud::{type_}::{slug}-{name}"
            if cancel is not None and cancel.wait(self.step_seconds):
                self._effect(f"cancelled {slug} before {name}")
                return RunResult(
                    slug, operation, False, time.monotonic() - started, error="cancelled", error_kind="cancelled"
                )
            self._emit(on_event, "resourcePreEvent", urn, type_)
            if cancel is None:
                time.sleep(self.step_seconds)
            if fault is not None and fault["at"] == name:
                return RunResult(slug, operation, False, time.monotonic() - started, error=fault["error"])
            if urn not in state["resources"]:
                state["resources"][urn] = {"type": type_, "servers": tenant.servers}
                self._save(slug, state)
                self._effect(f"create {slug} {name}")
                created += 1
            self._emit(on_event, "resOutputsEvent", urn, type_)
        outputs = {"tenant": slug, "plan": tenant.plan, "hostname": f"{slug}.cloud.test"}
        return RunResult(
            slug,
            operation,
            True,
            time.monotonic() - started,
            {"create": created, "same": len(RESOURCES) - created},
            outputs,
        )

    def _destroy(self, slug: str, started: float) -> RunResult:
        state = self.state(slug) or {"resources": {}}
        for urn in reversed(list(state["resources"])):
            del state["resources"][urn]
            self._save(slug, state)
            self._effect(f"delete {slug} {urn.rsplit('-', 1)[-1]}")
        (self.state_dir / f"{slug}.json").unlink(missing_ok=True)
        return RunResult(slug, "destroy", True, time.monotonic() - started)

    def _emit(self, on_event: EventHandler | None, kind: str, urn: str, type_: str) -> None:
        if on_event is not None:
            on_event(
                auto.EngineEvent.from_json(
                    {
                        "sequence": 0,
                        "timestamp": int(time.time()),
                        kind: {"metadata": {"op": "create", "urn": urn, "type": type_}},
                    }
                )
            )

    def _save(self, slug: str, state: dict[str, Any]) -> None:
        tmp = self.state_dir / f".{slug}.json.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_dir / f"{slug}.json")

    def _effect(self, line: str) -> None:
        with open(self.state_dir / "effects.log", "a", encoding="utf-8") as log:
            log.write(line + (f" by {self.label}" if self.label else "") + "\n")

    def _faults(self) -> dict[str, list[dict[str, str]]]:
        path = self.state_dir / "faults.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _take_fault(self, slug: str) -> dict[str, str] | None:
        with open(self.state_dir / ".faults.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            faults = self._faults()
            if not faults.get(slug):
                return None
            fault = faults[slug].pop(0)
            (self.state_dir / "faults.json").write_text(json.dumps(faults))
            return fault
