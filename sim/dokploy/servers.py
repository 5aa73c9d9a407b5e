"""``server`` CRUD procedures and Cloud billing of the simulator backend (CONTRACT §5, §8)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from .entities import Deployment, Organization, Server, SshKey, User, app_name, iso, nanoid, newest_first
from .exceptions import BadRequest, NotFound, Unauthorized

if TYPE_CHECKING:
    from .backend import Caller
    from .faults import Faults

SERVER_FIELDS = (
    ("name", "name"),
    ("description", "description"),
    ("ipAddress", "ip_address"),
    ("port", "port"),
    ("username", "username"),
    ("sshKeyId", "ssh_key_id"),
    ("serverType", "server_type"),
    ("enableDockerCleanup", "enable_docker_cleanup"),
)


class ServerMixin:
    """Mixed into Backend: servers, their quota per owner user, and inactive status."""

    servers: dict[str, Server]
    ssh_keys: dict[str, SshKey]
    orgs: dict[str, Organization]
    users: dict[str, User]
    deployments: list[Deployment]
    faults: Faults
    rng: random.Random
    cloud: bool

    if TYPE_CHECKING:

        def require(self, caller: Caller, resource: str) -> None: ...
        def now(self) -> float: ...

    def _owned_servers(self, owner_id: str) -> list[Server]:
        """Servers of all orgs the user owns: orgs in database order, servers oldest first."""
        out: list[Server] = []
        for org in self.orgs.values():
            if org.owner_id == owner_id:
                rows = [s for s in self.servers.values() if s.organization_id == org.id]
                out.extend(reversed(newest_first(rows)))
        return out

    def can_create_more_servers(self, caller: Caller) -> bool:
        self.require(caller, "server")
        if not self.cloud:
            return True
        owner = self.users.get(caller.owner_id)
        return owner is not None and len(self._owned_servers(owner.id)) < owner.servers_quantity

    def server_create(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """Quota check, insert; every failure (quota, FK, post-insert) is the opaque 400."""
        self.require(caller, "server")
        if not self.can_create_more_servers(caller):
            raise BadRequest("Error creating the server")  # inner: "You cannot create more servers"
        if body["sshKeyId"] is not None and body["sshKeyId"] not in self.ssh_keys:
            raise BadRequest("Error creating the server")  # FK violation; the key's org is not checked
        server = Server(
            nanoid(self.rng),
            body["name"],
            body["description"],
            body["ipAddress"],
            body["port"],
            body["username"],
            app_name(self.rng),
            caller.org_id,
            iso(self.now()),
            body["sshKeyId"],
            body["serverType"],
            body["enableDockerCleanup"],
        )
        self.servers[server.server_id] = server
        if self.faults.create_fail_after_insert > 0:
            self.faults.create_fail_after_insert -= 1
            raise BadRequest("Error creating the server")  # cleanup scheduling failed; row stays
        return server.to_json()

    def _own_server(self, caller: Caller, server_id: str, verb: str) -> Server:
        server = self.servers.get(server_id)
        if server is None:
            raise NotFound("Server not found")
        if server.organization_id != caller.org_id:
            raise Unauthorized(f"You are not authorized to {verb} this server")
        return server

    def _with_relations(self, server: Server) -> dict[str, Any]:
        key = self.ssh_keys.get(server.ssh_key_id or "")
        deployments = [
            d.to_json() for d in newest_first([d for d in self.deployments if d.server_id == server.server_id])
        ]
        return {**server.to_json(), "deployments": deployments, "sshKey": key.to_json(redact=True) if key else None}

    def server_one(self, caller: Caller, server_id: str) -> dict[str, Any]:
        self.require(caller, "server")
        return self._with_relations(self._own_server(caller, server_id, "access"))

    def server_all(self, caller: Caller) -> list[dict[str, Any]]:
        self.require(caller, "server")
        rows = newest_first([s for s in self.servers.values() if s.organization_id == caller.org_id])
        return [{**s.to_json(), "totalSum": s.services} for s in rows]

    def server_with_ssh_key(self, caller: Caller) -> list[dict[str, Any]]:
        self.require(caller, "server")
        rows = [
            s
            for s in self.servers.values()
            if s.organization_id == caller.org_id
            and s.ssh_key_id
            and s.server_type == "deploy"
            and not (self.cloud and s.server_status != "active")
        ]
        return [s.to_json() for s in newest_first(rows)]

    def server_count(self, caller: Caller) -> int:
        return len(self._owned_servers(caller.user_id))

    def server_update(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        """Full replacement of the input fields; inactive servers are refused with 404."""
        self.require(caller, "server")
        server = self._own_server(caller, body["serverId"], "update")
        if server.server_status == "inactive":
            raise NotFound("Server is inactive")
        for field, attr in SERVER_FIELDS:
            setattr(server, attr, body[field])
        if "command" in body:
            server.command = body["command"]
        return server.to_json()

    def server_remove(self, caller: Caller, server_id: str) -> dict[str, Any]:
        """Refuses servers with services; returns the pre-deletion row; Cloud re-balances activity."""
        self.require(caller, "server")
        server = self._own_server(caller, server_id, "delete")
        if server.services > 0:
            raise BadRequest("Server has active services, please delete them first")
        row = self._with_relations(server)
        self.deployments = [d for d in self.deployments if d.server_id != server_id]
        del self.servers[server_id]
        if self.cloud:
            owner = self.users.get(self.orgs[server.organization_id].owner_id)
            if owner is not None:
                self.update_servers_based_on_quantity(owner.id, owner.servers_quantity)
        return row

    # -- Cloud billing (stand-in for the Stripe webhook) -------------------------------------
    def update_servers_based_on_quantity(self, owner_id: str, quantity: int) -> None:
        """The first ``quantity`` owned servers become active, the rest inactive."""
        for index, server in enumerate(self._owned_servers(owner_id)):
            server.server_status = "active" if index < quantity else "inactive"

    def set_billing(self, user_id: str, servers_quantity: int) -> None:
        """What an active-subscription webhook does: set the quantity, then re-balance."""
        user = self.users.get(user_id)
        if user is None:
            raise NotFound("User not found")
        if servers_quantity < 0:
            raise ValueError("serversQuantity: must be >= 0")
        user.servers_quantity = servers_quantity
        self.update_servers_based_on_quantity(user_id, servers_quantity)

    def set_services(self, server_id: str, count: int) -> None:
        """Bind ``count`` applications/databases to a server (they block ``server.remove``)."""
        if server_id not in self.servers:
            raise NotFound("Server not found")
        self.servers[server_id].services = max(0, count)
