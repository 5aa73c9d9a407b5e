"""The one naming contract: names, ids, tags, type tokens and environment variables that the program,
the providers, the policy pack and the tools must agree on.

Pure functions and constants only, no I/O. Change a name here and every reader follows; a name
written somewhere else by hand is a bug. Host names have their own home (:mod:`components.spec.hostnames`),
since which names a tenant holds depends on its declaration.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from pulumi.output import Unknown

# --- Stacks -----------------------------------------------------------------------------------------


def stack_name(env: str, slug: str) -> str:
    """The tenant's stack: ``<env>.<slug>``."""
    return f"{env}.{slug}"


PLATFORM_STACKS = ("templates", "control-plane")
"""Stack names ``<env>.<name>`` that build the platform itself, not a tenant: the template pipeline and the Dokploy
control plane. No tenant may take one of these slugs (:mod:`components.spec.loader` refuses them)."""


def platform_stack(stack: str) -> str | None:
    """``prod.templates`` → ``templates``; a tenant or environment stack → None."""
    _, name = split_stack_name(stack)
    return name if name in PLATFORM_STACKS else None


def split_stack_name(stack: str) -> tuple[str, str | None]:
    """``prod.acme`` → (``prod``, ``acme``); ``prod`` → (``prod``, None): the environment stack itself."""
    env, _, slug = stack.partition(".")
    return env, slug or None


# --- Resource type tokens (as the engine reports them) -----------------------------------------------

TENANT_TYPE = "dokploy-cloud:tenant:TenantEnvironment"
VM_TYPE = "proxmoxve:index/vmLegacy:VmLegacy"
CT_TYPE = "proxmoxve:index/containerLegacy:ContainerLegacy"
"""A server of an lxc plan (``<slug>-s<index>-ct``, :mod:`components.tenant_ct`)."""
POOL_TYPE = "proxmoxve:index/poolLegacy:PoolLegacy"
FIREWALL_OPTIONS_TYPE = "proxmoxve:firewall/optionsLegacy:OptionsLegacy"
FIREWALL_RULES_TYPE = "proxmoxve:firewall/rulesLegacy:RulesLegacy"
IPFILTER_SET = "ipfilter-net0"
"""The anti-spoofing set of a VM's first NIC: with ``ipfilter`` on, its traffic may only come from these addresses."""
DYNAMIC_TYPE_PREFIX = "pulumi-python:dynamic/"
"""Dynamic resources are ``pulumi-python:dynamic/<module>:<name>`` (module and name below)."""
SSH_KEY_MODULE, SSH_KEY_NAME = "ssh", "KeyPair"
ALLOCATION_MODULE, ALLOCATION_NAME = "ipam", "Allocation"
DNS_RECORD_MODULE, DNS_RECORD_NAME = "dns", "Record"
DOKPLOY_SERVER_MODULE, DOKPLOY_SERVER_NAME = "dokploy", "Server"
WARM_ADOPTION_MODULE, WARM_ADOPTION_NAME = "warm", "Adoption"
GUEST_KEYS_MODULE, GUEST_KEYS_NAME = "guest", "AuthorizedKeys"
IP_FILTER_MODULE, IP_FILTER_NAME = "firewall", "IpFilter"


def dynamic_type(module: str, name: str) -> str:
    """The type token of a dynamic resource class declared with ``module=`` and ``name=``."""
    return f"{DYNAMIC_TYPE_PREFIX}{module}:{name}"


SSH_KEY_TYPE = dynamic_type(SSH_KEY_MODULE, SSH_KEY_NAME)
ALLOCATION_TYPE = dynamic_type(ALLOCATION_MODULE, ALLOCATION_NAME)
DNS_RECORD_TYPE = dynamic_type(DNS_RECORD_MODULE, DNS_RECORD_NAME)
DOKPLOY_SERVER_TYPE = dynamic_type(DOKPLOY_SERVER_MODULE, DOKPLOY_SERVER_NAME)
WARM_ADOPTION_TYPE = dynamic_type(WARM_ADOPTION_MODULE, WARM_ADOPTION_NAME)
GUEST_KEYS_TYPE = dynamic_type(GUEST_KEYS_MODULE, GUEST_KEYS_NAME)
IP_FILTER_TYPE = dynamic_type(IP_FILTER_MODULE, IP_FILTER_NAME)

# --- Proxmox tags ------------------------------------------------------------------------------------

MANAGED_TAG = "dokploy-cloud"
"""Every VM the platform creates carries it."""
TENANT_TAG_PREFIX = "tenant-"
WARM_TAG = "warm-pool"
"""A warm-pool VM, cloned ahead of demand and not yet any tenant's (provisioning/warm_pool.py)."""
PLAN_TAG_PREFIX = "plan-"


def ownership_tags(slug: str) -> frozenset[str]:
    """The tags that say a VM is this tenant's (recovery deletes only VMs that carry all of them)."""
    return frozenset({MANAGED_TAG, f"{TENANT_TAG_PREFIX}{slug}"})


def tenant_tags(slug: str, plan: str) -> list[str]:
    """A tenant VM's tags, sorted as Proxmox stores them: ownership and the plan it is sized for."""
    return sorted(ownership_tags(slug) | {f"{PLAN_TAG_PREFIX}{plan}"})


# --- Allocations (ipam) ------------------------------------------------------------------------------

_OWNER = re.compile(r"(?P<slug>[^/]+)/(?P<index>\d+)")


def allocation_pool(env: str, region: str) -> str:
    """The allocation pool of a region of an environment: ``<env>/<region>``."""
    return f"{env}/{region}"


def allocation_owner(slug: str, index: int) -> str:
    """Who holds an allocation: server ``index`` (from 0) of tenant ``slug``, ``<slug>/<index>``."""
    return f"{slug}/{index}"


def parse_allocation_owner(owner: str) -> tuple[str, int] | None:
    """(slug, index) of an owner made by :func:`allocation_owner`; None for any other shape."""
    match = _OWNER.fullmatch(owner)
    return (match["slug"], int(match["index"])) if match else None


def allocation_id(pool: str, owner: str) -> str:
    """The resource id of ``owner``'s allocation in ``pool``: both parts percent-encoded, joined by ``/``."""
    return f"{urllib.parse.quote(pool, safe='')}/{urllib.parse.quote(owner, safe='')}"


def parse_allocation_id(id_: str, props: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(pool, owner) of an id made by :func:`allocation_id`.

    Ids written before the encoding were ``<pool>/<owner>`` unencoded; for those the state's own
    ``pool`` and ``owner`` outputs decide, else the only shape the program made: ``<env>/<region>/<slug>/<i>``.
    """
    parts = id_.split("/")
    if len(parts) == 2 and all(parts):
        return urllib.parse.unquote(parts[0]), urllib.parse.unquote(parts[1])
    props = props or {}
    pool, owner = props.get("pool"), props.get("owner")
    if isinstance(pool, str) and isinstance(owner, str) and id_ == f"{pool}/{owner}":
        return pool, owner
    if len(parts) == 4 and all(parts):
        return "/".join(parts[:2]), "/".join(parts[2:])
    raise ValueError(f"allocation id {id_!r} is not <pool>/<owner> with percent-encoded parts")


# --- Dokploy server marker ---------------------------------------------------------------------------


def server_marker(env: str, slug: str, index: int, suffix: str) -> str:
    """The marker written into a Dokploy server's description: which stack's which server, which instance."""
    return f"{env}/{slug}/{index}/{suffix}"


_MARKER_TAG = re.compile(r"\[pulumi:(?P<env>[^/\]\s]+)/(?P<slug>[^/\]\s]+)/(?P<index>\d+)/(?P<suffix>[^/\]\s]+)\]")


def find_server_marker(description: str | None) -> tuple[str, str, int, str] | None:
    """(env, slug, index, suffix) of the ``[pulumi:<marker>]`` tag our Dokploy servers and SSH keys carry in
    their description (see :func:`server_marker`); None when there is none."""
    match = _MARKER_TAG.search(description or "")
    return (match["env"], match["slug"], int(match["index"]), match["suffix"]) if match else None


# --- Backups and archives ----------------------------------------------------------------------------

BACKUP_TYPE = "proxmoxve:backup/job:Job"
"""The bridged provider's backup job; one per tenant whose plan has backups."""
_JOB_ID = re.compile(r"dc_(?P<env>[a-z0-9_-]+)_(?P<slug>[a-z0-9][a-z0-9-]*)")
ARCHIVE_MARK = "dokploy-cloud-archive"
BACKUP_MARK = "dokploy-cloud-backup"


def backup_job_id(env: str, slug: str) -> str:
    """The tenant's Proxmox backup job id (a ``pve-configid``): ``dc_<env>_<slug>`` (slugs have no ``_``)."""
    return f"dc_{env}_{slug}"


def parse_backup_job_id(job_id: str) -> tuple[str, str] | None:
    """(env, slug) of an id made by :func:`backup_job_id`; None for any other job."""
    match = _JOB_ID.fullmatch(job_id)
    return (match["env"], match["slug"]) if match else None


def backup_notes_template(env: str, slug: str) -> str:
    """Notes every scheduled or on-demand backup of the tenant carries (PVE fills in the guest's values)."""
    return f"{BACKUP_MARK} env={env} tenant={slug} vmid={{{{vmid}}}} guest={{{{guestname}}}}"


def parse_notes(notes: str, mark: str) -> dict[str, str] | None:
    """The ``key=value`` fields of the first notes line when it starts with ``mark``; else None."""
    first, _, _ = (notes or "").partition("\n")
    words = first.split()
    if not words or words[0] != mark:
        return None
    fields = dict(w.split("=", 1) for w in words[1:] if "=" in w)
    return fields if "env" in fields and "tenant" in fields else None


# --- Environment variables (read by providers, clients and tools) ------------------------------------

PROXMOX_ENDPOINT_VAR = "PROXMOX_VE_ENDPOINT"
PROXMOX_TOKEN_VAR = "PROXMOX_VE_API_TOKEN"  # secret
PROXMOX_INSECURE_VAR = "PROXMOX_VE_INSECURE"
PROXMOX_MONITOR_TOKEN_VAR = "PROXMOX_VE_MONITOR_TOKEN"  # secret; read-only (PVEAuditor on /), for the exporters
# and reconcile's reads: unlike the provisioning token it sees VMs outside the tenant pools
DOKPLOY_URL_VAR = "DOKPLOY_URL"
DOKPLOY_API_KEY_VAR = "DOKPLOY_API_KEY"  # secret
DOKPLOY_TIMEOUT_VAR = "DOKPLOY_TIMEOUT"
PDNS_API_URL_VAR = "PDNS_API_URL"
PDNS_API_KEY_VAR = "PDNS_API_KEY"  # secret
ALLOCATIONS_DB_VAR = "ALLOCATIONS_DB"
DOKPLOY_KEY_LEDGER_VAR = "DOKPLOY_KEY_LEDGER"
ENV_FILE_VAR = "DOKPLOY_CLOUD_ENV_FILE"
TENANTS_DIR_VAR = "DOKPLOY_CLOUD_TENANTS_DIR"
TENANT_DECLARATION_VAR = "DOKPLOY_CLOUD_TENANT_DECLARATION"
WARM_SERVERS_VAR = "DOKPLOY_CLOUD_WARM_SERVERS"
KEY_ROTATION_VAR = "DOKPLOY_CLOUD_KEY_ROTATION"
"""A rotation request's id: the run makes the tenant a new SSH key pair (see providers/ssh_keypair.py)."""
"""Comma-separated indexes of the tenant's servers whose VM came from the warm pool (set by the runner)."""


def parse_warm_servers(value: str | None) -> frozenset[int]:
    """The indexes in a :data:`WARM_SERVERS_VAR` value (empty for none or garbage)."""
    return frozenset(int(part) for part in (value or "").split(",") if part.strip().isdigit())


# --- Values unknown during a preview -----------------------------------------------------------------

UNKNOWN_SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # bool
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string (the engine's UNKNOWN)
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)
"""The strings the engine (and pulumi_policy's proxies) use for values a preview does not know yet."""


def is_unknown(value: Any) -> bool:
    """True for one value a preview does not know yet: a sentinel string or a ``pulumi.output.Unknown``."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value in UNKNOWN_SENTINELS)


def contains_unknown(value: Any) -> bool:
    """True when ``value`` or anything inside it (lists, tuples, dict values) is unknown."""
    if is_unknown(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    return False
