"""Entities of the Dokploy simulator: plain records whose ``to_json`` is the exact row Dokploy returns."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

NANOID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
_VERBS = ("parse", "index", "bypass", "compress", "program", "navigate", "hack", "connect", "reboot", "copy")
_ADJECTIVES = ("virtual", "solid-state", "mobile", "digital", "neural", "redundant", "primary", "haptic")
_NOUNS = ("monitor", "pixel", "driver", "bus", "array", "circuit", "protocol", "bandwidth", "matrix")

DEFAULT_METRICS_CONFIG: dict[str, Any] = {
    "server": {
        "type": "Remote",
        "refreshRate": 60,
        "port": 4500,
        "token": "",
        "urlCallback": "",
        "cronJob": "",
        "retentionDays": 2,
        "thresholds": {"cpu": 0, "memory": 0},
    },
    "containers": {"refreshRate": 60, "services": {"include": [], "exclude": []}},
}


def iso(ts: float) -> str:
    """Timestamp as Dokploy's ISO-8601 string (JavaScript ``toISOString``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def nanoid(rng: random.Random, size: int = 21) -> str:
    """A nanoid-shaped id from the backend's seedable RNG."""
    return "".join(rng.choice(NANOID_ALPHABET) for _ in range(size))


def app_name(rng: random.Random) -> str:
    """Dokploy's generated ``server-<verb>-<adjective>-<noun>-<6 chars>``."""
    suffix = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    return f"server-{rng.choice(_VERBS)}-{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{suffix}"


@dataclass
class Organization:
    """An organization row; billing hangs off ``owner_id``."""

    id: str
    name: str
    slug: str
    owner_id: str
    created_at: str
    logo: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "slug": self.slug,
            "logo": self.logo,
            "createdAt": self.created_at,
            "metadata": None,
            "ownerId": self.owner_id,
        }


@dataclass
class User:
    """A user; ``servers_quantity`` is the Cloud server quota summed over the orgs it owns."""

    id: str
    email: str
    name: str
    created_at: str
    servers_quantity: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "emailVerified": True,
            "image": None,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "serversQuantity": self.servers_quantity,
            "isEnterpriseCloud": False,
        }


@dataclass
class Member:
    """Membership of a user in an organization with a role (owner|admin|member)."""

    id: str
    organization_id: str
    user_id: str
    role: str
    created_at: str
    can_access_ssh_keys: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "organizationId": self.organization_id,
            "userId": self.user_id,
            "role": self.role,
            "createdAt": self.created_at,
            "isDefault": False,
            "canAccessToSSHKeys": self.can_access_ssh_keys,
            "accessedServers": [],
        }


@dataclass
class ApiKey:
    """A better-auth API key; only a hash-equivalent of the plaintext is kept after creation."""

    id: str
    name: str
    key: str
    prefix: str | None
    user_id: str
    organization_id: str
    created_at: float
    rate_limit_enabled: bool = True
    rate_limit_time_window: int = 86_400_000
    rate_limit_max: int = 10
    request_count: int = 0
    remaining: int | None = None
    last_request: float | None = None
    expires_at: float | None = None
    enabled: bool = True

    def to_json(self, with_key: bool = False) -> dict[str, Any]:
        out = {
            "id": self.id,
            "configId": "default",
            "name": self.name,
            "start": self.key[:6],
            "prefix": self.prefix,
            "referenceId": self.user_id,
            "enabled": self.enabled,
            "rateLimitEnabled": self.rate_limit_enabled,
            "rateLimitTimeWindow": self.rate_limit_time_window,
            "rateLimitMax": self.rate_limit_max,
            "requestCount": self.request_count,
            "remaining": self.remaining,
            "refillAmount": None,
            "refillInterval": None,
            "lastRefillAt": None,
            "lastRequest": iso(self.last_request) if self.last_request else None,
            "expiresAt": iso(self.expires_at) if self.expires_at else None,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "permissions": None,
            "metadata": None,
        }  # metadata null in the response: a Dokploy quirk
        if with_key:
            out["key"] = self.key
        return out

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id!r}, name={self.name!r}, organization_id={self.organization_id!r})"


@dataclass
class SshKey:
    """An ``ssh-key`` row; the private key is stored and returned in clear, as Dokploy does."""

    ssh_key_id: str
    name: str
    public_key: str
    private_key: str
    organization_id: str
    created_at: str
    description: str | None = None
    last_used_at: str | None = None

    def to_json(self, redact: bool = False) -> dict[str, Any]:
        return {
            "sshKeyId": self.ssh_key_id,
            "privateKey": "" if redact else self.private_key,
            "publicKey": self.public_key,
            "name": self.name,
            "description": self.description,
            "createdAt": self.created_at,
            "lastUsedAt": self.last_used_at,
            "organizationId": self.organization_id,
        }

    def __repr__(self) -> str:
        return f"SshKey(ssh_key_id={self.ssh_key_id!r}, name={self.name!r})"


@dataclass
class Deployment:
    """The deployment row ``server.setup`` writes (its only visible outcome besides validate)."""

    deployment_id: str
    server_id: str
    created_at: str
    status: str = "running"
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "deploymentId": self.deployment_id,
            "title": "Setup Server",
            "description": None,
            "status": self.status,
            "logPath": f"/etc/dokploy/logs/{self.server_id}/setup.log",
            "serverId": self.server_id,
            "isPreviewDeployment": False,
            "createdAt": self.created_at,
            "startedAt": self.created_at,
            "finishedAt": None if self.status == "running" else self.created_at,
            "errorMessage": self.error_message,
        }


@dataclass
class Server:
    """A ``server`` row (CONTRACT §5.1) plus simulator-only bookkeeping (services bound to it)."""

    server_id: str
    name: str
    description: str | None
    ip_address: str
    port: int
    username: str
    app_name: str
    organization_id: str
    created_at: str
    ssh_key_id: str | None
    server_type: str = "deploy"
    enable_docker_cleanup: bool = True
    server_status: str = "active"
    command: str = ""
    builds_concurrency: int = 1
    metrics_config: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_METRICS_CONFIG))
    services: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "serverId": self.server_id,
            "name": self.name,
            "description": self.description,
            "ipAddress": self.ip_address,
            "port": self.port,
            "username": self.username,
            "appName": self.app_name,
            "enableDockerCleanup": self.enable_docker_cleanup,
            "buildsConcurrency": self.builds_concurrency,
            "createdAt": self.created_at,
            "organizationId": self.organization_id,
            "serverStatus": self.server_status,
            "serverType": self.server_type,
            "command": self.command,
            "sshKeyId": self.ssh_key_id,
            "metricsConfig": copy.deepcopy(self.metrics_config),
        }


def newest_first(rows: list[Any]) -> list[Any]:
    """Rows by ``created_at`` descending; ties (same millisecond) by insertion order, newest first."""
    return [row for _, row in sorted(enumerate(rows), key=lambda p: (p[1].created_at, p[0]), reverse=True)]
