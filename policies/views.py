"""Plain views of the resources the quota rules look at, built from preview-time property dicts.

During ``pulumi preview`` some inputs are unknown (e.g. a VM id chosen by our allocator). CrossGuard
encodes them as sentinel strings; :func:`known` turns those into ``None`` so every rule can treat
"unknown" and "absent" alike and check only what is known. Type tokens, tags and the unknown check
come from the naming contract (:mod:`components.naming`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.naming import (
    BACKUP_TYPE,
    CT_TYPE,
    DNS_RECORD_TYPE,
    FIREWALL_OPTIONS_TYPE,
    MANAGED_TAG,
    PLAN_TAG_PREFIX,
    TENANT_TAG_PREFIX,
    TENANT_TYPE,
    UNKNOWN_SENTINELS,
    VM_TYPE,
    is_unknown,
)

BACKUP_JOB_TYPE = BACKUP_TYPE

GUEST_TYPES = (VM_TYPE, CT_TYPE)
"""A tenant server is a VM or, on an lxc plan, a container: every quota rule covers both."""

__all__ = [
    "BACKUP_JOB_TYPE",
    "CT_TYPE",
    "DNS_RECORD_TYPE",
    "FIREWALL_OPTIONS_TYPE",
    "GUEST_TYPES",
    "MANAGED_TAG",
    "PLAN_TAG_PREFIX",
    "TENANT_TAG_PREFIX",
    "TENANT_TYPE",
    "UNKNOWN_SENTINELS",
    "VM_TYPE",
    "VmView",
    "dig",
    "guest_view",
    "is_unknown",
    "known",
    "vm_view",
]


def known(value: Any) -> Any:
    """``value``, or ``None`` when it is unknown during preview."""
    return None if is_unknown(value) else value


def dig(props: Mapping[str, Any], *path: str | int) -> Any:
    """Follow ``path`` through nested dicts/lists; ``None`` when any step is missing or unknown."""
    current: Any = props
    for step in path:
        current = known(current)
        if isinstance(step, int):
            if not isinstance(current, (list, tuple)) or len(current) <= step:
                return None
            current = current[step]
        elif isinstance(current, Mapping):
            current = current.get(step)
        else:
            return None
    return known(current)


def as_int(value: Any) -> int | None:
    """An integer from a known number (or numeric string); ``None`` otherwise."""
    value = known(value)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True)
class VmView:
    """What the rules need from a tenant VM; ``None`` means unknown or not set."""

    name: str
    tags: tuple[str, ...] | None = None
    cores: int | None = None
    memory_mb: int | None = None
    disk_gb: int | None = None
    template: int | None = None
    pool_id: str | None = None
    vm_id: int | None = None

    @property
    def tenant(self) -> str | None:
        """The slug from the ``tenant-<slug>`` tag, if exactly one is present."""
        return _single_suffix(self.tags, TENANT_TAG_PREFIX)

    @property
    def plan(self) -> str | None:
        """The plan from the ``plan-<name>`` tag, if exactly one is present."""
        return _single_suffix(self.tags, PLAN_TAG_PREFIX)


def _single_suffix(tags: tuple[str, ...] | None, prefix: str) -> str | None:
    found = [t[len(prefix) :] for t in tags or () if t.startswith(prefix) and len(t) > len(prefix)]
    return found[0] if len(found) == 1 else None


def vm_view(name: str, props: Mapping[str, Any]) -> VmView:
    """Build a :class:`VmView` from VmLegacy inputs (camelCase, as the engine passes them)."""
    raw_tags = dig(props, "tags")
    tags = None
    if isinstance(raw_tags, (list, tuple)):
        tags = tuple(str(t) for t in raw_tags if not is_unknown(t))
    pool = dig(props, "poolId")
    return VmView(
        name=name,
        tags=tags,
        cores=as_int(dig(props, "cpu", "cores")),
        memory_mb=as_int(dig(props, "memory", "dedicated")),
        disk_gb=as_int(dig(props, "disks", 0, "size")),
        template=as_int(dig(props, "clone", "vmId")),
        pool_id=pool if isinstance(pool, str) else None,
        vm_id=as_int(dig(props, "vmId")),
    )


def guest_view(resource_type: str, name: str, props: Mapping[str, Any]) -> VmView:
    """A view of a tenant server of either kind: ContainerLegacy inputs name sizing ``cpu.cores``,
    ``memory.dedicated`` and ``disk.size``, and a container is made from an image, never cloned (no template)."""
    if resource_type != CT_TYPE:
        return vm_view(name, props)
    view = vm_view(name, props)
    return VmView(
        name=name,
        tags=view.tags,
        cores=view.cores,
        memory_mb=view.memory_mb,
        disk_gb=as_int(dig(props, "disk", "size")),
        template=None,
        pool_id=view.pool_id,
        vm_id=view.vm_id,
    )


@dataclass(frozen=True)
class StackResource:
    """One resource of a stack as the stack rules see it (engine-independent)."""

    type: str
    urn: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None
    """URN of the parent resource (the TenantEnvironment for tenant VMs)."""
    dependencies: frozenset[str] = field(default_factory=frozenset)
    """URNs this resource depends on (explicit ``depends_on`` and property dependencies)."""
