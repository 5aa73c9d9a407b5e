"""Which provisioning phase an engine event belongs to (allocate, keys, vm, dns, dokploy)."""
from __future__ import annotations

import re
from typing import Any

from pulumi import automation as auto

# Resource type token -> phase; first match wins. Tokens as the engine reports them, e.g.
# ``pulumi-python:dynamic/ipam:Allocation``, ``proxmoxve:index/vmLegacy:VmLegacy``.
PHASE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^pulumi:providers:"), ""),
    (re.compile(r"/ipam:"), "allocate"),
    (re.compile(r"/ssh:"), "keys"),
    (re.compile(r"^proxmoxve:"), "vm"),
    (re.compile(r"/dns:"), "dns"),
    (re.compile(r"/dokploy:"), "dokploy"),
)
PHASES = ("allocate", "keys", "vm", "dns", "dokploy")


def phase_of_type(resource_type: str) -> str | None:
    """The phase of a resource type, or None for components, providers and the stack itself."""
    for pattern, phase in PHASE_RULES:
        if pattern.search(resource_type):
            return phase or None
    return None


def phase_of(event: auto.EngineEvent) -> str | None:
    """The phase a resource pre/outputs event starts or continues; None for every other event."""
    step: Any = event.resource_pre_event or event.res_outputs_event
    if step is None or step.metadata is None:
        return None
    return phase_of_type(step.metadata.type)
