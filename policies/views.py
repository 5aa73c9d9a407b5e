"""Plain views of the resources the quota rules look at, built from preview-time property dicts.

During ``pulumi preview`` some inputs are unknown (e.g. a VM id chosen by our allocator). CrossGuard
encodes them as sentinel strings; :func:`known` turns those into ``None`` so every rule can treat
"unknown" and "absent" alike and check only what is known. Nothing here imports Pulumi.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VM_TYPE = "proxmoxve:index/vmLegacy:VmLegacy"
FIREWALL_OPTIONS_TYPE = "proxmoxve:firewall/optionsLegacy:OptionsLegacy"
DNS_RECORD_TYPE = "pulumi-python:dynamic/dns:Record"
TENANT_TYPE = "dokploy-cloud:tenant:TenantEnvironment"
MANAGED_TAG = "dokploy-cloud"
TENANT_TAG_PREFIX = "tenant-"
PLAN_TAG_PREFIX = "plan-"

# The sentinels pulumi_policy.proxy uses for values unknown during preview (same strings as the engine's).
UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)


def is_unknown(value: Any) -> bool:
    """True for a preview-unknown sentinel."""
    return isinstance(value, str) and value in UNKNOWN_SENTINELS


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
