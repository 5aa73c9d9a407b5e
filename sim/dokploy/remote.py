"""``server.setup`` / ``server.validate``: what Dokploy's SSH session would find on the guest (CONTRACT §6).

The guest comes from the shared world (the Proxmox simulator). SSH "works" when the guest is
running, owns the server's address, listens on port 22, has ``username`` as its cloud-init user
and has the public half of the registered private key among its cloud-init SSH keys.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

from sim.world import GuestWorld

from .entities import Deployment, Server, SshKey, iso, nanoid
from .exceptions import BadRequest, TRPCError

if TYPE_CHECKING:
    import random

    from .backend import Caller
    from .faults import Faults

TIMEOUT = "SSH connection error: Timed out while waiting for handshake"
AUTH_FAILED = (
    "Authentication failed: Invalid SSH private key. ❌ Error: All configured authentication "
    "methods failed client-authentication"
)
NO_KEY = "No SSH Key found"
VERSIONS = {"docker": "28.5.0", "rclone": "1.71.0", "nixpacks": "1.41.0", "buildpacks": "0.39.1", "railpack": "0.15.4"}
MAX_DEPLOYMENTS = 5


def _key_id(line: str) -> str:
    """``type base64`` of an OpenSSH public key line (the comment does not matter to sshd)."""
    return " ".join(line.split()[:2])


def public_half(private_key: str) -> str | None:
    """The OpenSSH public key of a private key, or None when ssh2 could not parse it."""
    try:
        loader = serialization.load_ssh_private_key if "OPENSSH" in private_key else serialization.load_pem_private_key
        key = loader(private_key.encode(), password=None)
        return (
            key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        )
    except (ValueError, TypeError):
        return None


class RemoteMixin:
    """Mixed into Backend: setup and validate, checked against the shared guest world."""

    world: GuestWorld
    ssh_keys: dict[str, SshKey]
    deployments: list[Deployment]
    installed: set[tuple[str, int]]
    faults: Faults
    rng: random.Random
    setup_seconds: float
    prepared_setup_seconds: float | None
    lock: threading.RLock

    if TYPE_CHECKING:

        def require(self, caller: Caller, resource: str) -> None: ...
        def now(self) -> float: ...
        def _own_server(self, caller: Caller, server_id: str, verb: str) -> Server: ...

    def ssh_connect(self, server: Server) -> dict[str, Any]:
        """The guest Dokploy's SSH client would reach, or BadRequest with ssh2's message."""
        key = self.ssh_keys.get(server.ssh_key_id or "")
        if key is None:
            raise BadRequest(NO_KEY)
        try:
            guest = self.world.find_by_address(server.ip_address)
        except Exception:  # the Proxmox simulator being down looks like an unreachable host
            guest = None
        if guest is None or guest.get("status") != "running":
            raise BadRequest(TIMEOUT)
        if server.port != 22:
            raise BadRequest(f"SSH connection error: connect ECONNREFUSED {server.ip_address}:{server.port}")
        public = public_half(key.private_key)
        authorized = {_key_id(line) for line in guest.get("ssh_keys", [])}
        if public is None or _key_id(public) not in authorized or server.username != guest.get("ciuser"):
            raise BadRequest(AUTH_FAILED)
        return guest

    def server_setup(self, caller: Caller, server_id: str) -> None:
        """Blocking setup; always 200 once started: the outcome is only in the deployment row."""
        with self.lock:
            self.require(caller, "server")
            server = self._own_server(caller, server_id, "setup")
            deployment = Deployment(nanoid(self.rng), server_id, iso(self.now()))
            self.deployments.append(deployment)
            mine = [d for d in self.deployments if d.server_id == server_id]
            for old in mine[:-MAX_DEPLOYMENTS]:
                self.deployments.remove(old)
        time.sleep(self.setup_duration(server))  # outside the lock: other calls proceed, as in Dokploy
        with self.lock:
            try:
                guest = self.ssh_connect(server)
            except TRPCError as err:  # logged and swallowed by Dokploy
                deployment.status, deployment.error_message = "error", err.message
                return None
            if self.faults.setup_failure == "ssh":
                deployment.status, deployment.error_message = "error", TIMEOUT
                self.faults.setup_failures += 1
            elif self.faults.setup_failure == "script":
                deployment.status = "done"  # exit code ignored: nothing got installed
                self.faults.setup_failures += 1
            else:
                self.installed.add((guest["node"], guest["vmid"]))
                deployment.status = "done"
        return None

    def setup_duration(self, server: Server) -> float:
        """How long setup takes on the server's host: Dokploy's script installs Docker, Swarm, the network,
        rclone, nixpacks, buildpacks and railpack only where missing, so a host a setup already prepared
        (a warm-pool VM) takes ``prepared_setup_seconds`` (default a tenth of ``setup_seconds``)."""
        try:
            guest = self.world.find_by_address(server.ip_address)
        except Exception:
            guest = None
        prepared = guest is not None and (guest["node"], guest["vmid"]) in self.installed
        if not prepared:
            return self.setup_seconds
        return self.setup_seconds / 10 if self.prepared_setup_seconds is None else self.prepared_setup_seconds

    def server_validate(self, caller: Caller, server_id: str) -> dict[str, Any]:
        """Read-only probe; every failure is a 400 carrying the underlying message."""
        try:
            self.require(caller, "server")
            server = self._own_server(caller, server_id, "validate")
        except TRPCError as err:
            raise BadRequest(err.message) from None
        guest = self.ssh_connect(server)
        ready = (guest["node"], guest["vmid"]) in self.installed
        out: dict[str, Any] = {
            name: {"version": version if ready else "0.0.0", "enabled": ready} for name, version in VERSIONS.items()
        }
        out.update(
            {
                "isDokployNetworkInstalled": ready,
                "isSwarmInstalled": ready,
                "isMainDirectoryInstalled": ready,
                "privilegeMode": "root" if server.username == "root" else "sudo",
                "dockerGroupMember": ready and server.username != "root",
            }
        )
        return out

    def forget_installation(self, node: str, vmid: int) -> None:
        """Admin hook: a guest was re-created, so nothing is installed on it any more."""
        self.installed.discard((node, vmid))
