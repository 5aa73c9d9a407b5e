"""Explicit, typed Dokploy procedures on top of :class:`Transport` (CONTRACT §4, §5, §7, §10)."""

from __future__ import annotations

import time
from typing import Any

from clients.retry import RetryPolicy as SharedRetryPolicy

from .errors import DokployError
from .transport import RetryPolicy, Transport

__all__ = ["DokployClient", "RetryPolicy", "is_ready"]

SETUP_TIMEOUT = 900.0  # server.setup blocks for the whole installation (minutes on a fresh VM)
READY_FLAGS = ("isDokployNetworkInstalled", "isSwarmInstalled", "isMainDirectoryInstalled")


def is_ready(validation: dict[str, Any]) -> bool:
    """A deploy server is ready when docker, swarm, the network and /etc/dokploy are all there."""
    docker = validation.get("docker") or {}
    return bool(docker.get("enabled")) and all(validation.get(flag) is True for flag in READY_FLAGS)


def _key_id(line: str) -> str:
    return " ".join(line.split()[:2])


class DokployClient(Transport):
    """One organization's view of Dokploy (an API key is bound to exactly one organization)."""

    # -- SSH keys --------------------------------------------------------------------------
    def ssh_key_create(self, name: str, public_key: str, private_key: str, description: str | None = None) -> None:
        """Register a key pair; Dokploy answers with an empty body (no id). Not retried."""
        self._request(
            "POST",
            "sshKey.create",
            {
                "name": name,
                "publicKey": public_key,
                "privateKey": private_key,
                "description": description,
                "organizationId": "",  # required by the schema, ignored: the key's organization is used
            },
            idempotent=False,
        )

    def ssh_key_all(self) -> list[dict[str, Any]]:
        """All keys of the organization, newest first. Rows contain private keys: never log them."""
        return list(self._request("GET", "sshKey.all") or [])

    def ssh_key_one(self, ssh_key_id: str) -> dict[str, Any]:
        return dict(self._request("GET", "sshKey.one", {"sshKeyId": ssh_key_id}))

    def ssh_key_remove(self, ssh_key_id: str) -> dict[str, Any]:
        return dict(self._request("POST", "sshKey.remove", {"sshKeyId": ssh_key_id}, idempotent=True))

    def ssh_key_find(self, public_key: str, marker: str | None = None) -> dict[str, Any] | None:
        """Newest key with this public key (compared without comment) and, if given, our marker."""
        for row in self.ssh_key_all():
            if _key_id(row.get("publicKey", "")) != _key_id(public_key):
                continue
            if marker is None or marker in (row.get("description") or ""):
                return row
        return None

    def register_ssh_key(self, name: str, public_key: str, private_key: str, description: str) -> dict[str, Any]:
        """Create a key and return its row, found by public key + description (create returns no id)."""
        self.ssh_key_create(name, public_key, private_key, description)
        row = self.ssh_key_find(public_key, description)
        if row is None:
            raise DokployError(
                "sshKey.create",
                200,
                "NOT_FOUND_AFTER_CREATE",
                f"SSH key {name!r} was accepted but is not in sshKey.all",
            )
        return row

    # -- servers ---------------------------------------------------------------------------
    def server_create(
        self,
        *,
        name: str,
        description: str | None,
        ip_address: str,
        port: int,
        username: str,
        ssh_key_id: str | None,
        server_type: str = "deploy",
        enable_docker_cleanup: bool = True,
    ) -> dict[str, Any]:
        """Insert a server. Never retried: Dokploy has no idempotency and a retry may duplicate it."""
        fields = _server_fields(
            name, description, ip_address, port, username, ssh_key_id, server_type, enable_docker_cleanup
        )
        return dict(self._request("POST", "server.create", fields, idempotent=False, keep_null=_NULLABLE))

    def server_one(self, server_id: str) -> dict[str, Any]:
        return dict(self._request("GET", "server.one", {"serverId": server_id}))

    def server_all(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "server.all") or [])

    def server_find(self, marker: str) -> list[dict[str, Any]]:
        """Servers whose description carries ``marker``, newest first."""
        return [row for row in self.server_all() if marker in (row.get("description") or "")]

    def server_update(
        self,
        server_id: str,
        *,
        name: str,
        description: str | None,
        ip_address: str,
        port: int,
        username: str,
        ssh_key_id: str | None,
        server_type: str = "deploy",
        enable_docker_cleanup: bool = True,
        command: str | None = None,
    ) -> dict[str, Any]:
        """Full replacement of the server's fields (not a patch), so every field is sent."""
        fields = _server_fields(
            name, description, ip_address, port, username, ssh_key_id, server_type, enable_docker_cleanup
        )
        body = {"serverId": server_id, **fields, "command": command}
        return dict(self._request("POST", "server.update", body, idempotent=True, keep_null=_NULLABLE))

    def server_setup(self, server_id: str, timeout: float = SETUP_TIMEOUT) -> None:
        """Run Dokploy's setup. A 200 means nothing: check :meth:`wait_ready` afterwards."""
        self._request("POST", "server.setup", {"serverId": server_id}, idempotent=False, timeout=timeout)

    def server_validate(self, server_id: str) -> dict[str, Any]:
        return dict(self._request("GET", "server.validate", {"serverId": server_id}))

    def server_remove(self, server_id: str) -> dict[str, Any]:
        return dict(self._request("POST", "server.remove", {"serverId": server_id}, idempotent=True))

    def wait_ready(self, server_id: str, timeout: float = 60.0, interval: float = 2.0) -> dict[str, Any]:
        """Poll ``server.validate`` every ``interval`` s until the server is ready.

        Raises the last failure at the deadline.
        """
        deadline = time.monotonic() + timeout

        def validated() -> dict[str, Any]:
            result = self.server_validate(server_id)
            if not is_ready(result):
                raise DokployError(
                    "server.validate",
                    200,
                    "NOT_READY",
                    "setup reported success but Docker/Swarm/network are not installed",
                )
            return result

        def worth_polling(exc: BaseException) -> bool:
            # 400: validate cannot reach the server yet; None/5xx: transient. Either may clear up in time.
            settling = isinstance(exc, DokployError) and (exc.status in (400, 200, None) or exc.retryable)
            return settling and time.monotonic() + interval <= deadline

        polls = SharedRetryPolicy(
            attempts=int(timeout / interval) + 2 if interval > 0 else 1, initial=interval, maximum=interval
        )
        return polls.call(validated, worth_polling)

    # -- organization, keys, billing -------------------------------------------------------
    def organization_active(self) -> dict[str, Any] | None:
        """The organization this API key is bound to."""
        result = self._request("GET", "organization.active")
        return dict(result) if result else None

    def user_session(self) -> dict[str, Any]:
        return dict(self._request("GET", "user.session"))

    def can_create_more_servers(self) -> bool:
        """Cloud quota pre-check (server.create's own error hides the reason)."""
        return bool(self._request("GET", "stripe.canCreateMoreServers"))

    def create_api_key(
        self, name: str, organization_id: str, *, rate_limit_enabled: bool = False, expires_in: int | None = None
    ) -> dict[str, Any]:
        """A key bound to ``organization_id``; the rate limit is off explicitly (default locks out after 5 calls)."""
        return dict(
            self._request(
                "POST",
                "user.createApiKey",
                {
                    "name": name,
                    "metadata": {"organizationId": organization_id},
                    "rateLimitEnabled": rate_limit_enabled,
                    "expiresIn": expires_in,
                },
                idempotent=False,
            )
        )

    def api_keys(self) -> list[dict[str, Any]]:
        """The caller's keys in every organization: ``id, name, prefix, enabled, expiresAt, createdAt`` (no secrets)."""
        user = dict(self._request("GET", "user.get") or {}).get("user") or {}
        return list(user.get("apiKeys") or [])

    def delete_api_key(self, api_key_id: str) -> bool:
        """Revoke one of the caller's keys; an already deleted key counts as revoked."""
        try:
            return bool(self._request("POST", "user.deleteApiKey", {"apiKeyId": api_key_id}, idempotent=True))
        except DokployError as exc:
            if exc.status == 404:
                return True
            raise


_NULLABLE = ("description", "sshKeyId")
"""Server fields sent as ``null`` when unset (Dokploy clears them); other ``None`` fields are left out."""


def _server_fields(
    name: str,
    description: str | None,
    ip_address: str,
    port: int,
    username: str,
    ssh_key_id: str | None,
    server_type: str,
    enable_docker_cleanup: bool,
) -> dict[str, Any]:
    """The fields ``server.create`` and ``server.update`` share, as Dokploy names them."""
    return {
        "name": name,
        "description": description,
        "ipAddress": ip_address,
        "port": port,
        "username": username,
        "sshKeyId": ssh_key_id,
        "serverType": server_type,
        "enableDockerCleanup": enable_docker_cleanup,
    }
