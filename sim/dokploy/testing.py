"""Helpers for tests and demos of the Dokploy simulator: key pairs and a mutable guest world."""

from __future__ import annotations

import threading
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


def keypair(comment: str = "test") -> tuple[str, str]:
    """(OpenSSH private key, public key line) for a fresh ed25519 key."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = (
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    )
    return pem, f"{public} {comment}"


def guest(
    vmid: int, address: str, ssh_keys: list[str], ciuser: str = "root", status: str = "running", node: str = "pve1"
) -> dict[str, Any]:
    """A guest dict shaped like ``sim.world`` describes."""
    return {
        "vmid": vmid,
        "node": node,
        "name": f"vm{vmid}",
        "status": status,
        "addresses": [address],
        "ciuser": ciuser,
        "ssh_keys": list(ssh_keys),
        "tags": [],
        "agent_ready": True,
    }


class MutableGuestWorld:
    """A GuestWorld whose guests a test can add, change and remove while a simulator reads it."""

    def __init__(self, guests: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._guests = {g["vmid"]: dict(g) for g in guests or []}

    def put(self, g: dict[str, Any]) -> None:
        with self._lock:
            self._guests[g["vmid"]] = dict(g)

    def update(self, vmid: int, **changes: Any) -> None:
        with self._lock:
            self._guests[vmid].update(changes)

    def remove(self, vmid: int) -> None:
        with self._lock:
            self._guests.pop(vmid, None)

    def guests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(g) for g in self._guests.values()]

    def find_by_address(self, addr: str) -> dict[str, Any] | None:
        return next((g for g in self.guests() if addr in g.get("addresses", [])), None)
