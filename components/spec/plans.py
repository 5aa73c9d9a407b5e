"""Hosting plans, declared once per environment (``Pulumi.<env>.yaml``, key ``dokploy-cloud:plans``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from components.spec.errors import SpecError, SpecErrors
from components.spec.marked_yaml import MarkedDocument, load_marked
from components.spec.schema import PLANS_SCHEMA
from components.spec.validate import schema_errors

PLANS_KEY = "plans"


@dataclass(frozen=True)
class BackupPolicy:
    """A plan's scheduled backups: a Proxmox backup job per tenant (``proxmoxve.backup.Job``)."""

    schedule: str
    """Proxmox calendar event (``02:00``, ``daily``, ``mon..fri 21:00``); the node's local time."""
    storage: str
    """Storage id the backups go to; it must hold ``backup`` content in every region."""
    keep: Mapping[str, int]
    """Retention: ``{daily: 7, weekly: 4}`` becomes ``prune-backups`` ``keep-daily=7,keep-weekly=4``."""
    mode: str = "snapshot"
    compress: str = "zstd"

    @property
    def prune_backups(self) -> dict[str, str]:
        """``keep-<option>`` -> count, as the backup job's ``prune-backups`` takes them."""
        return {f"keep-{option}": str(count) for option, count in sorted(self.keep.items())}

    def to_config(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "storage": self.storage,
            "keep": dict(self.keep),
            "mode": self.mode,
            "compress": self.compress,
        }


@dataclass(frozen=True)
class Plan:
    """Resources and limits one tenant server gets on a plan."""

    name: str
    cores: int
    memory_mb: int
    disk_gb: int
    max_servers: int
    backups: BackupPolicy | None = None
    """Scheduled backups, or None when the plan has none."""
    description: str = ""
    kind: str = "vm"
    """``vm`` (QEMU VMs cloned from the region's cloud-init templates) or ``lxc`` (unprivileged containers
    created from the region's ``lxc_template`` image, :mod:`components.tenant_ct`)."""

    @property
    def is_lxc(self) -> bool:
        return self.kind == "lxc"

    def to_config(self) -> dict[str, Any]:
        """The plan's fields as they appear in configuration (without the name); ``kind`` only when not
        the default ``vm``."""
        return {
            **({"kind": self.kind} if self.kind != "vm" else {}),
            "cores": self.cores,
            "memory_mb": self.memory_mb,
            "disk_gb": self.disk_gb,
            "max_servers": self.max_servers,
            "backups": self.backups.to_config() if self.backups else False,
            "description": self.description,
        }


def parse_plans(data: Any, source: str = "Pulumi config 'plans'") -> dict[str, Plan]:
    """Validate a ``name -> fields`` mapping (e.g. ``pulumi.Config().require_object("plans")``)."""
    return plans_from_document(MarkedDocument(source, data), ())


def load_plans(path: str | FsPath) -> dict[str, Plan]:
    """Load plans from a YAML file whose top-level ``plans`` key holds the mapping."""
    path = FsPath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecErrors([SpecError(str(path), None, "(document)", f"cannot read file: {exc.strerror}")]) from None
    doc, errors = load_marked(text, str(path))
    if doc is None or errors:
        raise SpecErrors(errors)
    if not isinstance(doc.data, dict) or PLANS_KEY not in doc.data:
        raise SpecErrors([doc.error((), f"expected a mapping with a top-level '{PLANS_KEY}' key")])
    extras = [k for k in doc.data if k != PLANS_KEY]
    if extras:
        raise SpecErrors([doc.error((k,), f"unknown field; only '{PLANS_KEY}' is allowed") for k in extras])
    return plans_from_document(doc, (PLANS_KEY,))


def plans_from_document(doc: MarkedDocument, base: tuple[str, ...]) -> dict[str, Plan]:
    """Validate and build the plans found at ``base`` inside an already parsed document."""
    errors = schema_errors(doc, PLANS_SCHEMA, base)
    if errors:
        raise SpecErrors(errors)
    mapping: Any = doc.data
    for key in base:
        mapping = mapping[key]
    return {
        name: Plan(
            name=name,
            cores=int(fields["cores"]),
            memory_mb=int(fields["memory_mb"]),
            disk_gb=int(fields["disk_gb"]),
            max_servers=int(fields["max_servers"]),
            backups=_backup_policy(fields.get("backups", False)),
            description=str(fields.get("description", "")),
            kind=str(fields.get("kind", "vm")),
        )
        for name, fields in mapping.items()
    }


def _backup_policy(value: Any) -> BackupPolicy | None:
    if not value:
        return None
    return BackupPolicy(
        schedule=str(value["schedule"]),
        storage=str(value["storage"]),
        keep={str(k): int(v) for k, v in value["keep"].items()},
        mode=str(value.get("mode", "snapshot")),
        compress=str(value.get("compress", "zstd")),
    )
