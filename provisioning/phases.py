"""The one provisioning phase vocabulary, and the tracker that turns engine events into phases with timings.

A tenant's run goes through ``sshkey, allocate, pool, vm, firewall, dns, dokploy`` (:data:`PHASE_ORDER`);
steps run in parallel where the program allows (DNS beside the VM, the firewall beside Dokploy).
cloudctl's progress table, the fleet runner and the service's recorded job phases all read the same
:class:`PhaseTracker`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pulumi.automation import EngineEvent

from components.naming import (
    ALLOCATION_TYPE,
    DNS_RECORD_TYPE,
    DOKPLOY_SERVER_TYPE,
    FIREWALL_OPTIONS_TYPE,
    FIREWALL_RULES_TYPE,
    GUEST_KEYS_TYPE,
    IP_FILTER_TYPE,
    POOL_TYPE,
    SSH_KEY_TYPE,
    VM_TYPE,
    WARM_ADOPTION_TYPE,
)

# Resource type -> phase; anything else (the stack, components, providers) is bookkeeping ("other").
PHASES = {
    SSH_KEY_TYPE: "sshkey",
    ALLOCATION_TYPE: "allocate",
    POOL_TYPE: "pool",
    VM_TYPE: "vm",
    WARM_ADOPTION_TYPE: "vm",
    FIREWALL_OPTIONS_TYPE: "firewall",
    FIREWALL_RULES_TYPE: "firewall",
    IP_FILTER_TYPE: "firewall",
    DNS_RECORD_TYPE: "dns",
    DOKPLOY_SERVER_TYPE: "dokploy",
    GUEST_KEYS_TYPE: "keys",
}
PHASE_ORDER = ("sshkey", "allocate", "pool", "vm", "firewall", "dns", "keys", "dokploy")
NO_PHASE = "-"
"""What :attr:`PhaseTracker.current` says before any phase started."""


def phase_of(resource_type: str) -> str:
    """The phase a resource type belongs to."""
    return PHASES.get(resource_type, "other")


@dataclass
class PhaseTracker:
    """Collects, per phase, when its first step started and its last step ended, and failures.

    Feed it engine events (use it as ``on_event``). ``on_change`` is called after every event that
    changed something; ``on_phase`` only when :attr:`current` moved to another phase.
    """

    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    active: dict[str, str] = field(default_factory=dict)
    """URN -> phase of steps in flight."""
    failures: list[str] = field(default_factory=list)
    busy_seconds: float = 0.0
    """Time during which at least one resource operation was in flight (the rest is engine overhead)."""
    _busy_since: float | None = None
    on_change: Callable[[PhaseTracker], None] | None = None
    on_phase: Callable[[str], None] | None = None
    _last_ended: str | None = None
    _reported: str = NO_PHASE
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: EngineEvent) -> None:
        """Feed one engine event."""
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
                phase = self.active.pop(event.res_outputs_event.metadata.urn, "")
                if phase:
                    self.ended[phase] = now
                    if phase in PHASE_ORDER:
                        self._last_ended = phase
                    self._settle_busy(now)
            elif event.res_op_failed_event:
                meta = event.res_op_failed_event.metadata
                self.failures.append(f"{phase_of(meta.type)}: {meta.urn.rsplit('::', 1)[-1]}")
                if self.active.pop(meta.urn, ""):
                    self._settle_busy(now)
            elif event.diagnostic_event and event.diagnostic_event.severity == "error":
                self.failures.append(event.diagnostic_event.message.strip())
            else:
                return
            current = self._current()
            moved = current != self._reported
            self._reported = current
        if self.on_change:
            self.on_change(self)
        if moved and self.on_phase:
            self.on_phase(current)

    def _settle_busy(self, now: float) -> None:
        if not self.active and self._busy_since is not None:
            self.busy_seconds += now - self._busy_since
            self._busy_since = None

    def _current(self) -> str:
        in_flight = [p for p in self.active.values() if p in PHASE_ORDER]
        if in_flight:
            return max(in_flight, key=PHASE_ORDER.index)
        return self._last_ended or NO_PHASE

    @property
    def current(self) -> str:
        """The latest phase (in :data:`PHASE_ORDER`) with a step in flight; between steps, the phase whose
        step ended last; :data:`NO_PHASE` before any.

        The latest rather than the newest: steps overlap, so a short firewall step ending must not credit a
        long Dokploy setup to an earlier phase.
        """
        with self._lock:
            return self._current()

    def durations(self) -> dict[str, float]:
        """Seconds from each phase's first start to its last end (phases that finished)."""
        with self._lock:
            return {p: self.ended[p] - self.started[p] for p in PHASE_ORDER if p in self.ended and p in self.started}
