"""State backend of the Dokploy simulator: identities, API keys and organizations (CONTRACT §1.4, §1.5, §3, §7).

Server and SSH-key procedures live in the mixins of ``ssh_keys.py``, ``servers.py`` and ``remote.py``;
this module owns the state they share. It never imports the web framework.
"""

from __future__ import annotations

import collections
import random
import string
import threading
import time
from dataclasses import dataclass
from typing import Any

from sim.world import GuestWorld, StaticGuestWorld

from .entities import ApiKey, Deployment, Member, Organization, Server, SshKey, User, iso, nanoid
from .exceptions import AuthRejected, Forbidden, NotFound, Unauthorized
from .faults import Faults
from .remote import RemoteMixin
from .servers import ServerMixin
from .ssh_keys import SshKeyMixin

ROLES = ("owner", "admin", "member")


@dataclass(frozen=True)
class Caller:
    """The synthetic session an API key yields: one user acting inside one organization."""

    user_id: str
    org_id: str
    role: str | None  # None: the key outlived the membership
    owner_id: str
    can_access_ssh_keys: bool = False


class Backend(SshKeyMixin, ServerMixin, RemoteMixin):
    """All simulated Dokploy state; every public method is one procedure or one admin hook."""

    def __init__(
        self, world: GuestWorld | None = None, cloud: bool = False, seed: int = 0, setup_seconds: float = 0.0
    ) -> None:
        self.world: GuestWorld = world or StaticGuestWorld([])
        self.cloud = cloud
        self.setup_seconds = setup_seconds
        self.prepared_setup_seconds: float | None = None
        """Setup on a host a setup already prepared (None: a tenth of ``setup_seconds``)."""
        self.lock = threading.RLock()
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        """Forget everything (world, mode and speed are kept)."""
        self.rng = random.Random(seed)
        self.clock_offset = 0.0
        self.users: dict[str, User] = {}
        self.orgs: dict[str, Organization] = {}
        self.members: list[Member] = []
        self.api_keys: dict[str, ApiKey] = {}
        self.ssh_keys: dict[str, SshKey] = {}
        self.servers: dict[str, Server] = {}
        self.deployments: list[Deployment] = []
        self.installed: set[tuple[str, int]] = set()  # (node, vmid) of guests where setup really ran
        self.faults = Faults()
        self.served: collections.Counter[tuple[str, str]] = collections.Counter()
        """(procedure, caller's organization) -> calls answered (benchmarks count calls per organization)."""

    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the simulated clock (rate-limit windows, key expiry)."""
        self.clock_offset += seconds

    # -- seeding (admin) -------------------------------------------------------------------
    def seed_user(self, email: str, name: str = "", servers_quantity: int = 0) -> User:
        user = User(nanoid(self.rng, 32), email, name or email.split("@")[0], iso(self.now()), servers_quantity)
        self.users[user.id] = user
        return user

    def seed_org(self, name: str, owner_id: str, org_id: str | None = None) -> Organization:
        """Create an organization owned by ``owner_id`` (``org_id`` fixes its id, e.g. to match tenant files)."""
        if owner_id not in self.users:
            raise NotFound("User not found")
        org = Organization(org_id or nanoid(self.rng), name, nanoid(self.rng), owner_id, iso(self.now()))
        self.orgs[org.id] = org
        self.add_member(org.id, owner_id, "owner")
        return org

    def add_member(self, org_id: str, user_id: str, role: str, can_access_ssh_keys: bool = False) -> Member:
        if role not in ROLES:
            raise ValueError(f"role: must be one of {', '.join(ROLES)}")
        member = Member(nanoid(self.rng), org_id, user_id, role, iso(self.now()), can_access_ssh_keys)
        self.members = [m for m in self.members if not (m.organization_id == org_id and m.user_id == user_id)]
        self.members.append(member)
        return member

    def issue_key(
        self, user_id: str, org_id: str, name: str = "key", *, secret: str | None = None, **limits: Any
    ) -> ApiKey:
        """Create an API key (``limits``: rate_limit_enabled, rate_limit_max, ..., prefix, remaining).

        ``secret`` fixes the key's value (an environment whose credentials are configured elsewhere).
        """
        prefix = limits.pop("prefix", None)
        expires_in = limits.pop("expires_in", None)
        body = secret or "".join(self.rng.choice(string.ascii_letters) for _ in range(64))
        key = ApiKey(nanoid(self.rng, 32), name, (prefix or "") + body, prefix, user_id, org_id, self.now(), **limits)
        if expires_in is not None:
            key.expires_at = self.now() + expires_in
        self.api_keys[key.id] = key
        return key

    # -- authentication --------------------------------------------------------------------
    def _verify(self, key: ApiKey) -> bool:
        """One better-auth ``verifyApiKey``: expiry, usage quota, rate limit (2 per HTTP request)."""
        now = self.now()
        if not key.enabled or (key.expires_at is not None and now > key.expires_at):
            return False
        if key.remaining is not None and key.remaining <= 0:
            del self.api_keys[key.id]
            return False
        if key.rate_limit_enabled:
            window = key.rate_limit_time_window / 1000.0
            if key.last_request is not None and now - key.last_request < window:
                if key.request_count >= key.rate_limit_max:
                    return False  # denied attempts do not move the window
                key.request_count += 1
            else:
                key.request_count = 1
        key.last_request = now
        if key.remaining is not None:
            key.remaining -= 1
        return True

    def find_key(self, plaintext: str | None) -> ApiKey | None:
        if not plaintext:
            return None
        return next((k for k in self.api_keys.values() if k.key == plaintext), None)

    def authenticate(self, plaintext: str | None) -> Caller:
        """First (catch-all) check: raise AuthRejected for the bare 401."""
        key = self.find_key(plaintext)
        if key is None or not key.organization_id or not self._verify(key):
            raise AuthRejected()
        return self.caller_for(key)

    def reauthenticate(self, plaintext: str | None) -> Caller:
        """Second check in createTRPCContext: a failure here is the OpenAPI-shaped 401."""
        key = self.find_key(plaintext)
        if key is None or not self._verify(key):
            raise Unauthorized("UNAUTHORIZED")
        return self.caller_for(key)

    def caller_for(self, key: ApiKey) -> Caller:
        org = self.orgs.get(key.organization_id)
        member = self._member(key.organization_id, key.user_id)
        owner = org.owner_id if org and member else key.user_id
        return Caller(
            key.user_id,
            key.organization_id,
            member.role if member else None,
            owner,
            bool(member and member.can_access_ssh_keys),
        )

    def _member(self, org_id: str, user_id: str) -> Member | None:
        return next((m for m in self.members if m.organization_id == org_id and m.user_id == user_id), None)

    def require(self, caller: Caller, resource: str) -> None:
        """``withPermission``: owner/admin pass; members only sshKeys with the legacy flag (401 otherwise)."""
        if caller.role is None or caller.org_id not in self.orgs:
            raise Unauthorized("Permission denied")
        if caller.role in ("owner", "admin"):
            return
        if resource == "sshKeys" and caller.can_access_ssh_keys:
            return
        raise Unauthorized(f'unauthorized to access resource "{resource}"')

    # -- organization / user procedures ----------------------------------------------------
    def organization_active(self, caller: Caller) -> dict[str, Any] | None:
        org = self.orgs.get(caller.org_id)
        return org.to_json() if org else None

    def organization_all(self, caller: Caller) -> list[dict[str, Any]]:
        out = []
        for member in self.members:
            if member.user_id == caller.user_id and member.organization_id in self.orgs:
                out.append({**self.orgs[member.organization_id].to_json(), "members": [member.to_json()]})
        return out

    def organization_one(self, caller: Caller, organization_id: str) -> dict[str, Any]:
        org = self.orgs.get(organization_id)
        if org is None or self._member(organization_id, caller.user_id) is None:
            raise Forbidden("You are not a member of this organization")
        return org.to_json()

    def organization_create(self, caller: Caller, name: str, logo: str | None = None) -> dict[str, Any]:
        if not self.cloud and caller.role not in ("owner", "admin"):
            raise Forbidden("Only the organization owner can create an organization")
        org = self.seed_org(name, caller.user_id)
        org.logo = logo
        return org.to_json()

    def user_create_api_key(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        org_id = body["metadata"]["organizationId"]
        if org_id and self._member(org_id, caller.user_id) is None:
            raise Forbidden("You are not a member of this organization")
        limits = {
            k: body[j]
            for j, k in (
                ("rateLimitEnabled", "rate_limit_enabled"),
                ("rateLimitTimeWindow", "rate_limit_time_window"),
                ("rateLimitMax", "rate_limit_max"),
                ("remaining", "remaining"),
                ("prefix", "prefix"),
                ("expiresIn", "expires_in"),
            )
            if j in body
        }
        return self.issue_key(caller.user_id, org_id, body["name"], **limits).to_json(with_key=True)

    def user_delete_api_key(self, caller: Caller, api_key_id: str) -> bool:
        key = self.api_keys.get(api_key_id)
        if key is None:
            raise NotFound("API key not found")
        if key.user_id != caller.user_id:
            raise Unauthorized("You are not authorized to delete this API key")
        del self.api_keys[api_key_id]
        return True

    def user_get(self, caller: Caller) -> dict[str, Any]:
        member = self._member(caller.org_id, caller.user_id)
        user = self.users[caller.user_id]
        keys = [
            {
                "id": k.id,
                "name": k.name,
                "prefix": k.prefix,
                "enabled": k.enabled,
                "expiresAt": k.to_json()["expiresAt"],
                "createdAt": iso(k.created_at),
            }
            for k in self.api_keys.values()
            if k.user_id == caller.user_id
        ]
        base = member.to_json() if member else {"organizationId": caller.org_id, "userId": caller.user_id}
        return {**base, "user": {**user.to_json(), "apiKeys": keys}}

    def user_session(self, caller: Caller) -> dict[str, Any]:
        return {"user": {"id": caller.user_id}, "session": {"activeOrganizationId": caller.org_id}}

    def state(self) -> dict[str, Any]:
        """Admin dump (no API key plaintexts, no private keys)."""
        return {
            "cloud": self.cloud,
            "users": [u.to_json() for u in self.users.values()],
            "organizations": [o.to_json() for o in self.orgs.values()],
            "apiKeys": [{**k.to_json(), "organizationId": k.organization_id} for k in self.api_keys.values()],
            "sshKeys": [k.to_json(redact=True) for k in self.ssh_keys.values()],
            "servers": [{**s.to_json(), "services": s.services} for s in self.servers.values()],
            "deployments": [d.to_json() for d in self.deployments],
            "faults": self.faults.to_json(),
        }
