"""The control plane's declaration: ``dokploy-cloud:controlPlane`` in ``Pulumi.<env>.yaml``, schema-checked with
errors naming file, line and field."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.environment import Environment, load_environment, stack_file
from components.spec.errors import SpecErrors
from components.spec.marked_yaml import load_marked
from components.spec.validate import schema_errors

CONTROL_PLANE_KEY = "dokploy-cloud:controlPlane"
_IMAGE = {"type": "string", "pattern": r"^[a-z0-9./_-]+:[A-Za-z0-9._-]+$", "x-allowed": "an image with a pinned tag"}
IMAGE_KEYS = ("dokploy", "postgres", "redis", "traefik", "node_exporter", "vector", "mailpit")
CONTROL_PLANE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["region", "node", "vmid", "address", "hostname", "images", "smtp", "tls", "logs"],
    "properties": {
        "region": {"type": "string", "minLength": 1},
        "node": {"type": "string", "minLength": 1},
        "vmid": {"type": "integer", "minimum": 100, "maximum": 999999999},
        "address": {"type": "string", "pattern": r"^\d+\.\d+\.\d+\.\d+/\d+$", "x-allowed": "an IPv4 CIDR address"},
        "cores": {"type": "integer", "minimum": 2, "maximum": 64},
        "memory_mb": {"type": "integer", "minimum": 4096},
        "disk_gb": {"type": "integer", "minimum": 40},
        "hostname": {"type": "string", "pattern": r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"},
        "operator_network": {"type": "string", "pattern": r"^\d+\.\d+\.\d+\.\d+/\d+$"},
        "images": {
            "type": "object",
            "additionalProperties": False,
            "required": ["dokploy", "postgres", "redis", "traefik", "node_exporter", "vector"],
            "properties": dict.fromkeys(IMAGE_KEYS, _IMAGE),
        },
        "worker_command": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "smtp": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "mailpit": {"type": "boolean"},
                "relay": {"type": "string", "pattern": r"^[a-z0-9.-]+:\d+$", "x-allowed": "host:port"},
                "from": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"},
            },
        },
        "tls": {
            "type": "object",
            "additionalProperties": False,
            "required": ["acme_email"],
            "properties": {"acme_email": {"type": "string", "pattern": r"^[^@\s]+@[^@\s]+$"}},
        },
        "logs": {
            "type": "object",
            "additionalProperties": False,
            "required": ["loki_url"],
            "properties": {"loki_url": {"type": "string", "pattern": "^https?://"}},
        },
    },
}
DEFAULT_WORKER_COMMAND = ("node", "dist/deployments-worker.mjs")
"""How the image starts the deployments worker (``apps/dokploy/server/queues/deployments-queue.ts``) on its own.
An assumption to check against the pinned image: Dokploy cannot run here (docs/platform/control-plane.md)."""


@dataclass(frozen=True)
class ControlPlane:
    """One environment's Dokploy control plane."""

    env: str
    zone: str
    region: str
    node: str
    vmid: int
    address: str
    gateway: str
    hostname: str
    images: dict[str, str]
    worker_command: tuple[str, ...]
    smtp_relay: str | None
    smtp_from: str
    mailpit: bool
    acme_email: str
    loki_url: str
    operator_network: str
    cores: int = 4
    memory_mb: int = 8192
    disk_gb: int = 100

    @property
    def fqdn(self) -> str:
        """The control plane's host name, under the environment's zone."""
        return f"{self.hostname}.{self.zone}"

    @property
    def public_url(self) -> str:
        """``PUBLIC_APP_URL``: TLS is terminated by Traefik on the VM."""
        return f"https://{self.fqdn}"

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]


def load_control_plane(project_dir: Path, env_name: str) -> ControlPlane:
    """Read and check ``env_name``'s declaration; raise SpecErrors naming file, line and field."""
    environment = load_environment(project_dir, env_name)
    path = stack_file(project_dir, env_name)
    doc, errors = load_marked(path.read_text(encoding="utf-8"), str(path))
    if doc is None or errors:
        raise SpecErrors(errors)
    config = doc.data.get("config") if isinstance(doc.data, dict) else None
    if not isinstance(config, dict) or CONTROL_PLANE_KEY not in config:
        raise SpecErrors([doc.error(("config",), f"must hold '{CONTROL_PLANE_KEY}' to build the control plane")])
    base = ("config", CONTROL_PLANE_KEY)
    errors = schema_errors(doc, CONTROL_PLANE_SCHEMA, base)
    if errors:
        raise SpecErrors(errors)
    data: dict[str, Any] = config[CONTROL_PLANE_KEY]
    problems = _semantic_errors(data, environment)
    if problems:
        raise SpecErrors([doc.error((*base, field), message) for field, message in problems])
    return _control_plane(env_name, data, environment)


def _semantic_errors(data: dict[str, Any], environment: Environment) -> list[tuple[str, str]]:
    region = environment.regions.get(data["region"])
    if region is None:
        return [("region", f"unknown region {data['region']!r}; allowed: {', '.join(sorted(environment.regions))}")]
    errors = []
    if data["node"] not in region.nodes:
        errors.append(("node", f"not a node of region {region.name}: {', '.join(region.nodes)}"))
    if ipaddress.ip_interface(data["address"]).ip not in ipaddress.ip_network(region.network):
        errors.append(("address", f"must lie in region {region.name}'s network {region.network}"))
    if region.vmid_start <= data["vmid"] <= region.vmid_end:
        errors.append(("vmid", f"inside the tenants' range {region.vmid_start}-{region.vmid_end}; choose one outside"))
    smtp = data["smtp"]
    if bool(smtp.get("mailpit")) == bool(smtp.get("relay")):
        errors.append(("smtp", "set exactly one of 'mailpit: true' (non-production) or 'relay: host:port'"))
    if smtp.get("mailpit") and "mailpit" not in data["images"]:
        errors.append(("images", "'mailpit' image is required when smtp.mailpit is true"))
    return errors


def _control_plane(env_name: str, data: dict[str, Any], environment: Environment) -> ControlPlane:
    region = environment.regions[data["region"]]
    smtp = data["smtp"]
    return ControlPlane(
        env=env_name,
        zone=environment.zone,
        region=region.name,
        node=data["node"],
        vmid=data["vmid"],
        address=data["address"],
        gateway=region.gateway,
        hostname=data["hostname"],
        images=dict(data["images"]),
        worker_command=tuple(data.get("worker_command", DEFAULT_WORKER_COMMAND)),
        smtp_relay=smtp.get("relay"),
        smtp_from=smtp.get("from", f"dokploy@{environment.zone}"),
        mailpit=bool(smtp.get("mailpit")),
        acme_email=data["tls"]["acme_email"],
        loki_url=data["logs"]["loki_url"],
        operator_network=data.get("operator_network", region.network),
        cores=data.get("cores", 4),
        memory_mb=data.get("memory_mb", 8192),
        disk_gb=data.get("disk_gb", 100),
    )
