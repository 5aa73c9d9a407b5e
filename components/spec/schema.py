"""JSON Schemas for tenant files and plans, as data.

Each leaf carries ``x-allowed``: the human sentence used in error messages to say what
is accepted. Semantic rules that need other data (plan names, limits, file names, SSH
key parsing) live in :mod:`components.spec.loader` and :mod:`components.spec.plans`.
"""

from __future__ import annotations

from typing import Any

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
DNS_LABEL_ALLOWED = "a DNS label: 1-63 lowercase letters, digits or '-', not starting or ending with '-'"
PLAN_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
PLAN_NAME_ALLOWED = "a plan name: 1-32 lowercase letters, digits, '_' or '-', starting with a letter"
MAX_SERVERS_LIMIT = 100

TENANT_FIELDS_ORDER = (
    "slug",
    "display_name",
    "plan",
    "region",
    "dokploy_organization",
    "owner",
    "extra_ssh_keys",
    "hostname",
    "hostname_scheme",
    "servers",
    "state",
)
TENANT_STATES = ("active", "suspended")
"""Lifecycle states a tenant file may declare; ``active`` is the default and is omitted when dumping."""

TENANT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "x-allowed": "a mapping of tenant fields",
    "required": ["slug", "display_name", "plan", "region", "dokploy_organization", "owner"],
    "additionalProperties": False,
    "properties": {
        "slug": {"type": "string", "pattern": DNS_LABEL, "x-allowed": DNS_LABEL_ALLOWED + ", equal to the file name"},
        "display_name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "pattern": r"^[^\x00-\x1f\x7f]+$",
            "x-allowed": "1-100 printable characters on one line",
        },
        "plan": {"type": "string", "pattern": PLAN_NAME, "x-allowed": "the name of a plan from the plans config"},
        "region": {
            "type": "string",
            "pattern": DNS_LABEL,
            "x-allowed": "a region (cluster) name, " + DNS_LABEL_ALLOWED,
        },
        "dokploy_organization": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9_-]{1,64}$",
            "x-allowed": "a Dokploy organization id: 1-64 letters, digits, '_' or '-'",
        },
        "owner": {
            "type": "string",
            "maxLength": 254,
            "pattern": r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
            r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$",
            "x-allowed": "a contact e-mail address such as ops@example.com",
        },
        "extra_ssh_keys": {
            "type": "array",
            "maxItems": 20,
            "uniqueItems": True,
            "x-allowed": "a list of at most 20 distinct OpenSSH public keys",
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": 16384,
                "x-allowed": "one OpenSSH public key line: '<type> <base64> [comment]'",
            },
        },
        "hostname": {"type": "string", "pattern": DNS_LABEL, "x-allowed": DNS_LABEL_ALLOWED},
        "hostname_scheme": {
            "type": "string",
            "enum": ["subdomain", "numbered"],
            "x-allowed": "'subdomain' (server n is <n>.<label>, the default) or 'numbered' "
            "(server n is <label>-<n>: kept for tenants created before)",
        },
        "servers": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SERVERS_LIMIT,
            "x-allowed": f"a whole number from 1 to the plan's max_servers (at most {MAX_SERVERS_LIMIT})",
        },
        "state": {
            "type": "string",
            "enum": list(TENANT_STATES),
            "x-allowed": "'active' (VMs running, the default) or 'suspended' (VMs stopped, nothing deleted)",
        },
    },
}

PLAN_FIELDS_ORDER = ("kind", "cores", "memory_mb", "disk_gb", "max_servers", "backups", "description")
PLAN_KINDS = ("vm", "lxc")
"""What a plan's servers are: QEMU VMs (the default) or LXC containers (docs/platform/lxc.md)."""

KEEP_OPTIONS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
"""Retention counts of a backup policy, Proxmox's ``prune-backups`` ``keep-<option>`` values."""
STORAGE_ID = "^[a-z][a-z0-9._-]*[a-z0-9]$"

BACKUP_POLICY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-allowed": "a mapping with schedule, storage and keep (mode and compress optional)",
    "required": ["schedule", "storage", "keep"],
    "additionalProperties": False,
    "properties": {
        "schedule": {
            "type": "string",
            "minLength": 1,
            "maxLength": 128,
            "pattern": "^[a-z0-9 ,.:*/-]+$",
            "x-allowed": "a Proxmox calendar event such as '02:00', 'daily' or 'mon..fri 21:00'",
        },
        "storage": {"type": "string", "pattern": STORAGE_ID, "x-allowed": "a Proxmox storage id that holds backups"},
        "keep": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"enum": list(KEEP_OPTIONS), "x-allowed": ", ".join(KEEP_OPTIONS)},
            "additionalProperties": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "x-allowed": "a whole number of backups from 1 to 10000",
            },
            "x-allowed": f"a mapping of retention counts ({', '.join(KEEP_OPTIONS)})",
        },
        "mode": {
            "type": "string",
            "enum": ["snapshot", "suspend", "stop"],
            "x-allowed": "snapshot (the default), suspend or stop",
        },
        "compress": {"type": "string", "enum": ["zstd", "lzo", "gzip"], "x-allowed": "zstd (the default), lzo or gzip"},
    },
}

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "x-allowed": "a mapping of plan fields",
    "required": ["cores", "memory_mb", "disk_gb", "max_servers"],
    "additionalProperties": False,
    "properties": {
        "kind": {
            "type": "string",
            "enum": list(PLAN_KINDS),
            "x-allowed": "'vm' (QEMU virtual machines, the default) or 'lxc' (unprivileged LXC containers)",
        },
        "cores": {"type": "integer", "minimum": 1, "maximum": 64, "x-allowed": "a whole number of vCPUs from 1 to 64"},
        "memory_mb": {
            "type": "integer",
            "minimum": 512,
            "maximum": 262144,
            "x-allowed": "a whole number of MiB from 512 to 262144",
        },
        "disk_gb": {
            "type": "integer",
            "minimum": 8,
            "maximum": 4096,
            "x-allowed": "a whole number of GiB from 8 to 4096",
        },
        "max_servers": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_SERVERS_LIMIT,
            "x-allowed": f"a whole number from 1 to {MAX_SERVERS_LIMIT}",
        },
        "backups": {
            "type": ["boolean", "object"],
            "not": {"const": True},
            "if": {"type": "object"},
            "then": BACKUP_POLICY_SCHEMA,
            "x-allowed": "false (no backups, the default) or a mapping with schedule, storage and keep",
        },
        "description": {"type": "string", "maxLength": 200, "x-allowed": "a short text of at most 200 characters"},
    },
}

PLANS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "minProperties": 1,
    "x-allowed": "a mapping from plan name to plan fields, with at least one plan",
    "propertyNames": {"pattern": PLAN_NAME, "x-allowed": PLAN_NAME_ALLOWED},
    "additionalProperties": PLAN_SCHEMA,
}


def engine_schema(schema: Any) -> Any:
    """``schema`` as plain JSON Schema for other validators (the Pulumi engine's policy config):
    without our ``x-allowed`` messages and the ``$schema`` draft marker."""
    if isinstance(schema, dict):
        return {k: engine_schema(v) for k, v in schema.items() if k not in ("x-allowed", "$schema")}
    if isinstance(schema, list):
        return [engine_schema(v) for v in schema]
    return schema
