"""``sshKey`` procedures of the simulator backend (CONTRACT §4)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from .entities import Server, SshKey, iso, nanoid, newest_first
from .exceptions import BadRequest, NotFound, Unauthorized

if TYPE_CHECKING:
    from .backend import Caller


class SshKeyMixin:
    """Mixed into Backend: SSH keys are rows of one organization, private keys returned in clear."""

    ssh_keys: dict[str, SshKey]
    servers: dict[str, Server]
    rng: random.Random

    if TYPE_CHECKING:

        def require(self, caller: Caller, resource: str) -> None: ...
        def now(self) -> float: ...

    def ssh_key_create(self, caller: Caller, body: dict[str, Any]) -> None:
        """Insert a key in the caller's org (``organizationId`` is ignored); returns nothing."""
        self.require(caller, "sshKeys")
        key = SshKey(
            nanoid(self.rng),
            body["name"],
            body["publicKey"],
            body["privateKey"],
            caller.org_id,
            iso(self.now()),
            body.get("description"),
        )
        self.ssh_keys[key.ssh_key_id] = key
        return None

    def ssh_key_all(self, caller: Caller) -> list[dict[str, Any]]:
        self.require(caller, "sshKeys")
        rows = [k for k in self.ssh_keys.values() if k.organization_id == caller.org_id]
        return [k.to_json() for k in newest_first(rows)]

    def _own_key(self, caller: Caller, ssh_key_id: str, denied: str) -> SshKey:
        key = self.ssh_keys.get(ssh_key_id)
        if key is None:
            raise NotFound("SSH Key not found")
        if key.organization_id != caller.org_id:
            raise Unauthorized(denied)
        return key

    def ssh_key_one(self, caller: Caller, ssh_key_id: str) -> dict[str, Any]:
        self.require(caller, "sshKeys")
        return self._own_key(caller, ssh_key_id, "You are not allowed to access this SSH key").to_json()

    def ssh_key_update(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """Only name/description/lastUsedAt change; every failure is the same wrapped 400."""
        self.require(caller, "sshKeys")
        try:
            key = self._own_key(caller, body["sshKeyId"], "denied")
        except (NotFound, Unauthorized):
            raise BadRequest("Error updating this SSH key") from None
        for field, attr in (("name", "name"), ("description", "description"), ("lastUsedAt", "last_used_at")):
            if field in body:
                setattr(key, attr, body[field])
        return key.to_json()

    def ssh_key_remove(self, caller: Caller, ssh_key_id: str) -> dict[str, Any]:
        """Delete and return the row; servers using it get ``sshKeyId: null`` (FK set null)."""
        self.require(caller, "sshKeys")
        key = self._own_key(caller, ssh_key_id, "You are not allowed to delete this SSH key")
        del self.ssh_keys[ssh_key_id]
        for server in self.servers.values():
            if server.ssh_key_id == ssh_key_id:
                server.ssh_key_id = None
        return key.to_json()

    def ssh_key_generate(self, caller: Caller, kind: str | None) -> dict[str, str]:
        """A fresh OpenSSH key pair (comment ``dokploy``), not stored."""
        self.require(caller, "sshKeys")
        private = (
            ed25519.Ed25519PrivateKey.generate()
            if kind == "ed25519"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )  # 2048 instead of 4096: speed
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        public = (
            private.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        return {"privateKey": pem, "publicKey": public + " dokploy"}
