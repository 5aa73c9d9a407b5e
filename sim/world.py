"""Shared view of simulated guests, for simulators that must agree on one world.

The Proxmox simulator owns the guests. Other simulators (e.g. Dokploy) read them
through a :class:`GuestWorld`: over HTTP from ``GET /_sim/world/guests`` on a running
Proxmox simulator, or from a static list in unit tests.

``ssh_keys`` are what sshd would accept: the user's ``authorized_keys`` as the guest agent last wrote it, else
the cloud-init keys of the guest's last boot.

Each guest is a dict::

    {"vmid": int, "node": str, "name": str, "status": "running" | "stopped",
     "addresses": [str], "ciuser": str, "ssh_keys": [str], "tags": [str],
     "agent_ready": bool}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import requests

GUESTS_PATH = "/_sim/world/guests"
GUEST_KEYS = ("vmid", "node", "name", "status", "addresses", "ciuser", "ssh_keys", "tags", "agent_ready")


@runtime_checkable
class GuestWorld(Protocol):
    """Read-only access to the simulated guests."""

    def guests(self) -> list[dict[str, Any]]:
        """All guests, as dicts with the keys in GUEST_KEYS."""
        ...

    def find_by_address(self, addr: str) -> dict[str, Any] | None:
        """The guest that has ``addr`` among its addresses, or None."""
        ...


def _find(guests: list[dict[str, Any]], addr: str) -> dict[str, Any] | None:
    for guest in guests:
        if addr in guest.get("addresses", []):
            return guest
    return None


class StaticGuestWorld:
    """A fixed list of guests (unit tests)."""

    def __init__(self, guests: list[dict[str, Any]] | None = None) -> None:
        self._guests = [dict(g) for g in (guests or [])]

    def guests(self) -> list[dict[str, Any]]:
        return [dict(g) for g in self._guests]

    def find_by_address(self, addr: str) -> dict[str, Any] | None:
        return _find(self._guests, addr)


class HttpGuestWorld:
    """Guests read live from a running Proxmox simulator's admin endpoint."""

    def __init__(self, base_url: str, verify: bool = False, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify = verify
        self.timeout = timeout

    def guests(self) -> list[dict[str, Any]]:
        resp = requests.get(self.base_url + GUESTS_PATH, verify=self.verify, timeout=self.timeout)
        resp.raise_for_status()
        guests = resp.json()["guests"]
        if not isinstance(guests, list):
            raise ValueError("guests: expected a list from " + GUESTS_PATH)
        return guests

    def find_by_address(self, addr: str) -> dict[str, Any] | None:
        return _find(self.guests(), addr)


class LiveGuestWorld:
    """Guests read from an in-process source, e.g. a Proxmox simulator backend's ``world_guests``."""

    def __init__(self, source: Callable[[], list[dict[str, Any]]]) -> None:
        self._source = source

    def guests(self) -> list[dict[str, Any]]:
        return [dict(g) for g in self._source()]

    def find_by_address(self, addr: str) -> dict[str, Any] | None:
        return _find(self.guests(), addr)


class CompositeGuestWorld:
    """Several clusters' guests seen as one world (a Dokploy instance serving several regions)."""

    def __init__(self, worlds: list[GuestWorld]) -> None:
        self.worlds = list(worlds)

    def guests(self) -> list[dict[str, Any]]:
        return [guest for world in self.worlds for guest in world.guests()]

    def find_by_address(self, addr: str) -> dict[str, Any] | None:
        return _find(self.guests(), addr)
