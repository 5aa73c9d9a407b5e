"""Environment-wide settings, declared once in ``Pulumi.<env>.yaml`` and shared by every tenant stack.

Tenant stacks are named ``<env>.<slug>`` and carry no configuration of their own: the program reads
the environment's stack file (``config:`` → ``dokploy-cloud:environment`` and ``dokploy-cloud:plans``).
Secrets in that file (Proxmox token, Dokploy API key, PowerDNS key) are decrypted by the runner from
the environment stack and handed to tenant runs as environment variables, never as resource inputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.naming import DOKPLOY_API_KEY_VAR, ENV_FILE_VAR, PDNS_API_KEY_VAR, PROXMOX_TOKEN_VAR
from components.spec.errors import SpecErrors
from components.spec.marked_yaml import MarkedDocument, load_marked
from components.spec.plans import Plan, plans_from_document
from components.spec.validate import schema_errors

PROJECT = "dokploy-cloud"
ENV_KEY = f"{PROJECT}:environment"
PLANS_KEY = f"{PROJECT}:plans"
SECRET_KEYS = {  # stack config key -> environment variable the providers read
    f"{PROJECT}:proxmoxApiToken": PROXMOX_TOKEN_VAR,
    f"{PROJECT}:dokployApiKey": DOKPLOY_API_KEY_VAR,
    f"{PROJECT}:pdnsApiKey": PDNS_API_KEY_VAR,
}
_NAME = {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"}
_REGION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["endpoint", "nodes", "datastore", "network", "gateway", "vmid_start", "vmid_end"],
    "properties": {
        "endpoint": {"type": "string", "pattern": "^https?://"},
        "insecure": {"type": "boolean"},
        "nodes": {"type": "array", "minItems": 1, "items": _NAME, "uniqueItems": True},
        "templates": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {"type": "integer", "minimum": 100},
        },
        "template_versions": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {
                "pattern": "^[a-z0-9][a-z0-9._-]{0,31}$",
                "x-allowed": "a version name of 1-32 lowercase letters, digits, '.', '_' or '-' (e.g. 2026.12)",
            },
            "additionalProperties": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": {"type": "integer", "minimum": 100},
            },
        },
        "lxc_template": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*:vztmpl/[^/]+$"},
        "datastore": {"type": "string", "minLength": 1},
        "pool": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"},
        "bridge": {"type": "string", "minLength": 1},
        "full_clone": {"type": "boolean"},
        "strict_spread": {"type": "boolean"},
        "warm_pool": {
            "type": "object",
            "additionalProperties": False,
            "required": ["size", "plan"],
            "properties": {
                "size": {"type": "integer", "minimum": 0, "maximum": 100},
                "plan": {"type": "string", "minLength": 1},
                "max_idle_hours": {"type": "number", "exclusiveMinimum": 0},
            },
        },
        "network": {"type": "string"},
        "gateway": {"type": "string"},
        "nameservers": {"type": "array", "items": {"type": "string"}},
        "reserved": {"type": "integer", "minimum": 1},
        "vmid_start": {"type": "integer", "minimum": 100},
        "vmid_end": {"type": "integer", "maximum": 999999999},
    },
}
ENVIRONMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["zone", "dns_api_url", "dokploy_url", "regions"],
    "properties": {
        "zone": {"type": "string", "pattern": r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"},
        "dns_api_url": {"type": "string", "pattern": "^https?://"},
        "dns_ttl": {"type": "integer", "minimum": 30, "maximum": 86400},
        "dokploy_url": {"type": "string", "pattern": "^https?://"},
        "vm_user": {"type": "string", "pattern": "^[a-z_][a-z0-9_-]{0,31}$"},
        "allowed_templates": {"type": "array", "items": {"type": "integer"}},
        "template_version": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,31}$"},
        "warm_pool_organization": {"type": "string", "minLength": 1},
        "regions": {"type": "object", "minProperties": 1, "additionalProperties": _REGION},
        "archive": {
            "type": "object",
            "additionalProperties": False,
            "required": ["storage", "retention_days"],
            "properties": {
                "storage": {"type": "string", "pattern": "^[a-z][a-z0-9._-]*[a-z0-9]$"},
                "retention_days": {"type": "integer", "minimum": 1, "maximum": 3650},
            },
        },
    },
}


@dataclass(frozen=True)
class ArchivePolicy:
    """Where decommissioned tenants' final backups go and how long they are kept (the undelete window)."""

    storage: str
    """A storage with ``backup`` content, shared by the region's nodes, in every region."""
    retention_days: int


@dataclass(frozen=True)
class WarmPoolPolicy:
    """How many warm VMs a region keeps, sized for which plan, and for how long an idle one is kept."""

    size: int
    plan: str
    max_idle_hours: float = 24.0


@dataclass(frozen=True)
class Region:
    """One Proxmox cluster tenants can be placed in."""

    def template_version(self, vmid: int | None) -> str | None:
        """The declared version of the template ``vmid`` (what a server was cloned from); None when unknown."""
        for version, ids in self.template_versions.items():
            if vmid in ids.values():
                return version
        return None

    name: str
    endpoint: str
    nodes: tuple[str, ...]
    templates: Mapping[str, int]
    """Cloud-init template VM id per node that new servers are cloned from: templates on local storage clone only on
    their own node. With ``template_versions`` these are the current version's."""
    datastore: str
    network: str
    gateway: str
    vmid_start: int
    vmid_end: int
    insecure: bool = False
    bridge: str = "vmbr0"
    full_clone: bool = False
    nameservers: tuple[str, ...] = ()
    reserved: int = 10
    pool: str = "dokploy-cloud"
    """The Proxmox pool every tenant VM of this region lives in; the provisioning token's VM
    privileges are granted on it (docs/proxmox-privileges.md). Tenants are told apart by tags."""
    warm_pool: WarmPoolPolicy | None = None
    """VMs kept cloned, booted and set up ahead of demand (:mod:`provisioning.warm_pool`); None: no pool."""
    template_versions: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Template version -> node -> template VM id, for every version still in use; empty: ``templates`` only."""
    lxc_template: str | None = None
    """The container OS image, a ``vztmpl`` volume id on a storage every node sees
    (e.g. ``local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst``) that servers of ``kind: lxc`` plans
    are created from. Required once any plan is an lxc plan."""
    strict_spread: bool = False
    """Refuse a tenant's server rather than put it on a node that already holds one of the tenant's servers
    (default: double up only when no other node fits; see :mod:`ipam.placement`)."""


@dataclass(frozen=True)
class Environment:
    """Everything a tenant stack needs to know about the environment it lives in."""

    name: str
    zone: str
    dns_api_url: str
    dokploy_url: str
    regions: Mapping[str, Region]
    plans: Mapping[str, Plan]
    vm_user: str = "dokploy"
    dns_ttl: int = 300
    allowed_templates: tuple[int, ...] = field(default_factory=tuple)
    """Template ids the quota policy lets a VM be cloned from: the listed ones and every declared version's."""
    template_version: str | None = None
    """The template version new servers are cloned from (``template_versions``); servers on another are outdated."""
    archive: ArchivePolicy | None = None
    """Archive-before-destroy settings; without them decommission refuses to destroy servers."""
    warm_pool_organization: str | None = None
    """The platform's own Dokploy organization in which warm-pool VMs are set up once before any tenant claims
    them (the tenant's own setup then finds Docker, Swarm and the rest in place)."""

    def backup_storages(self) -> tuple[str, ...]:
        """Every storage the product writes backups to: the plans' and the archive's."""
        names = {p.backups.storage for p in self.plans.values() if p.backups}
        if self.archive:
            names.add(self.archive.storage)
        return tuple(sorted(names))


def stack_file(project_dir: Path, env: str) -> Path:
    """The environment's stack file; ``DOKPLOY_CLOUD_ENV_FILE`` overrides it (tests, ad-hoc environments)."""
    override = os.environ.get(ENV_FILE_VAR)
    return Path(override) if override else project_dir / f"Pulumi.{env}.yaml"


def load_environment(project_dir: Path, env: str) -> Environment:
    """Load and validate ``Pulumi.<env>.yaml``; raise SpecErrors naming file, line and field."""
    path = stack_file(project_dir, env)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecErrors(
            [MarkedDocument(str(path), None).error((), f"cannot read environment file: {exc.strerror}")]
        ) from None
    doc, errors = load_marked(text, str(path))
    if doc is None or errors:
        raise SpecErrors(errors)
    config = doc.data.get("config") if isinstance(doc.data, dict) else None
    if not isinstance(config, dict) or ENV_KEY not in config or PLANS_KEY not in config:
        raise SpecErrors([doc.error(("config",), f"must hold '{ENV_KEY}' and '{PLANS_KEY}'")])
    errors = schema_errors(doc, ENVIRONMENT_SCHEMA, ("config", ENV_KEY))
    if errors:
        raise SpecErrors(errors)
    plans = plans_from_document(doc, ("config", PLANS_KEY))
    unknown = [
        doc.error(("config", ENV_KEY, "regions", key, "warm_pool", "plan"), f"must be one of the plans {sorted(plans)}")
        for key, region in config[ENV_KEY]["regions"].items()
        if (region.get("warm_pool") or {}).get("plan", next(iter(plans), None)) not in plans
    ]
    if unknown:
        raise SpecErrors(unknown)
    lxc_errors = _lxc_errors(doc, config[ENV_KEY], plans) + _template_errors(doc, config[ENV_KEY])
    if lxc_errors:
        raise SpecErrors(lxc_errors)
    return _environment(env, config[ENV_KEY], plans)


def _lxc_errors(doc: MarkedDocument, data: Mapping[str, Any], plans: Mapping[str, Plan]) -> list[Any]:
    """With any ``kind: lxc`` plan every region names its container OS image (``lxc_template``); a warm pool
    (VM-only: containers cannot be handed over through the guest agent) must not be sized for an lxc plan."""
    lxc_plans = sorted(name for name, plan in plans.items() if plan.is_lxc)
    errors = []
    for key, region in data["regions"].items():
        base = ("config", ENV_KEY, "regions", key)
        pool_plan = (region.get("warm_pool") or {}).get("plan")
        if pool_plan in lxc_plans:
            errors.append(doc.error((*base, "warm_pool", "plan"), f"'{pool_plan}' is an lxc plan; warm pools hold VMs"))
        if not lxc_plans:
            continue
        if not region.get("lxc_template"):
            message = f"lxc_template is required: plans {lxc_plans} are lxc plans ('<storage>:vztmpl/<file>')"
            errors.append(doc.error(base, message))
    return errors


def _template_errors(doc: MarkedDocument, data: Mapping[str, Any]) -> list[Any]:
    """Each region names its templates one way: ``templates`` (node -> id) or ``template_versions`` (version ->
    node -> id, with the current one named by ``template_version``); every version covers every node, and no
    template id belongs to two versions."""
    errors = []
    current = data.get("template_version")
    versioned = [key for key, region in data["regions"].items() if "template_versions" in region]
    if versioned and current is None:
        errors.append(
            doc.error(("config", ENV_KEY), f"template_version is required: regions {versioned} version templates")
        )
    if current is not None and not versioned:
        errors.append(doc.error(("config", ENV_KEY, "template_version"), "no region declares template_versions"))
    for key, region in data["regions"].items():
        base = ("config", ENV_KEY, "regions", key)
        if ("templates" in region) == ("template_versions" in region):
            errors.append(doc.error(base, "set exactly one of 'templates' (node -> id) or 'template_versions'"))
            continue
        if "templates" in region:
            continue
        versions = region["template_versions"]
        if current is not None and current not in versions:
            errors.append(doc.error((*base, "template_versions"), f"lacks the current version {current!r}"))
        seen: dict[int, str] = {}
        for version, ids in versions.items():
            missing = sorted(set(region["nodes"]) - set(ids))
            if missing:
                errors.append(doc.error((*base, "template_versions", version), f"no template for nodes {missing}"))
            for vmid in ids.values():
                if vmid in seen and seen[vmid] != version:
                    message = f"template {vmid} is in versions {seen[vmid]!r} and {version!r}"
                    errors.append(doc.error((*base, "template_versions", version), message))
                seen[vmid] = version
    return errors


def _environment(name: str, data: Mapping[str, Any], plans: Mapping[str, Plan]) -> Environment:
    regions = {
        key: Region(
            name=key,
            endpoint=r["endpoint"],
            nodes=tuple(r["nodes"]),
            templates=dict(r["templates"] if "templates" in r else r["template_versions"][data["template_version"]]),
            template_versions={v: dict(ids) for v, ids in (r.get("template_versions") or {}).items()},
            datastore=r["datastore"],
            network=r["network"],
            gateway=r["gateway"],
            vmid_start=r["vmid_start"],
            vmid_end=r["vmid_end"],
            insecure=r.get("insecure", False),
            bridge=r.get("bridge", "vmbr0"),
            full_clone=r.get("full_clone", False),
            nameservers=tuple(r.get("nameservers", ())),
            reserved=r.get("reserved", 10),
            pool=r.get("pool", "dokploy-cloud"),
            strict_spread=r.get("strict_spread", False),
            lxc_template=r.get("lxc_template"),
            warm_pool=WarmPoolPolicy(**r["warm_pool"]) if r.get("warm_pool") else None,
        )
        for key, r in data["regions"].items()
    }
    return Environment(
        name=name,
        zone=data["zone"],
        dns_api_url=data["dns_api_url"],
        dokploy_url=data["dokploy_url"],
        regions=regions,
        plans=dict(plans),
        vm_user=data.get("vm_user", "dokploy"),
        dns_ttl=data.get("dns_ttl", 300),
        allowed_templates=_allowed_templates(data),
        template_version=data.get("template_version"),
        archive=ArchivePolicy(data["archive"]["storage"], data["archive"]["retention_days"])
        if "archive" in data
        else None,
        warm_pool_organization=data.get("warm_pool_organization"),
    )


def _allowed_templates(data: Mapping[str, Any]) -> tuple[int, ...]:
    """``allowed_templates`` plus every id of every declared template version, in order, without repeats."""
    ids = list(data.get("allowed_templates", ()))
    for region in data["regions"].values():
        for versioned in (region.get("template_versions") or {}).values():
            ids += [vmid for vmid in versioned.values() if vmid not in ids]
    return tuple(ids)
