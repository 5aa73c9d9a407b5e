"""Turning engine events into provisioning phases with timings (allocate, vm, firewall, dns, dokploy)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from pulumi.automation import EngineEvent

# Resource type suffix -> phase; anything else is bookkeeping ("other").
PHASES = {
    "ssh:KeyPair": "sshkey",
    "ipam:Allocation": "allocate",
    "proxmoxve:index/poolLegacy:PoolLegacy": "pool",
    "proxmoxve:index/vmLegacy:VmLegacy": "vm",
    "proxmoxve:firewall/optionsLegacy:OptionsLegacy": "firewall",
    "proxmoxve:firewall/rulesLegacy:RulesLegacy": "firewall",
    "dns:Record": "dns",
    "dokploy:Server": "dokploy",
}
PHASE_ORDER = ("sshkey", "allocate", "pool", "vm", "firewall", "dns", "dokploy")


def phase_of(resource_type: str) -> str:
    """The phase a resource type belongs to (dynamic types end with ``<module>:<name>``)."""
    for suffix, phase in PHASES.items():
        if resource_type.endswith(suffix):
            return phase
    return "other"


@dataclass
class PhaseTracker:
    """Collects, per phase, when its first step started and its last step ended, and failures."""

    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    active: dict[str, str] = field(default_factory=dict)
    """URN -> phase of steps in flight."""
    failures: list[str] = field(default_factory=list)
    busy_seconds: float = 0.0
    """Time during which at least one resource operation was in flight (the rest is engine overhead)."""
    _busy_since: float | None = None
    on_change: Callable[["PhaseTracker"], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: EngineEvent) -> None:
        """Feed one engine event (use as ``on_event``)."""
        now = time.monotonic()
        with self._lock:
            if event.resource_pre_event and event.resource_pre_event.metadata.op != "same":
                meta = event.resource_pre_event.metadata
                phase = phase_of(meta.type)
                self.started.setdefault(phase, now)
                if not self.active:
                    self._busy_since = now
                self.active[meta.urn] = phase
            elif event.res_outputs_event:
                phase = self.active.pop(event.res_outputs_event.metadata.urn, None)
                if phase:
                    self.ended[phase] = now
                    self._settle_busy(now)
            elif event.res_op_failed_event:
                meta = event.res_op_failed_event.metadata
                self.failures.append(f"{phase_of(meta.type)}: {meta.urn.rsplit('::', 1)[-1]}")
                if self.active.pop(meta.urn, None):
                    self._settle_busy(now)
            elif event.diagnostic_event and event.diagnostic_event.severity == "error":
                self.failures.append(event.diagnostic_event.message.strip())
            else:
                return
        if self.on_change:
            self.on_change(self)

    def _settle_busy(self, now: float) -> None:
        if not self.active and self._busy_since is not None:
            self.busy_seconds += now - self._busy_since
            self._busy_since = None

    @property
    def current(self) -> str:
        """The latest phase with a step in flight, or the last one that finished."""
        with self._lock:
            if self.active:
                return max(self.active.values(), key=lambda p: PHASE_ORDER.index(p) if p in PHASE_ORDER else -1)
            done = [p for p in PHASE_ORDER if p in self.ended]
            return done[-1] if done else "-"

    def durations(self) -> dict[str, float]:
        """Seconds from each phase's first start to its last end (phases that finished)."""
        with self._lock:
            return {p: self.ended[p] - self.started[p] for p in PHASE_ORDER if p in self.ended and p in self.started}
