"""Procedure handlers: parsed input in, backend call, plain value out (the HTTP layer renders it).

Each handler is ``(backend, caller, input) -> value``; ``None`` renders as Dokploy's empty 200 body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .backend import Backend, Caller

Handler = Callable[[Backend, Caller, Any], Any]

HANDLERS: dict[str, Handler] = {
    "sshKey.create": lambda b, c, i: b.ssh_key_create(c, i),
    "sshKey.all": lambda b, c, i: b.ssh_key_all(c),
    "sshKey.one": lambda b, c, i: b.ssh_key_one(c, i["sshKeyId"]),
    "sshKey.update": lambda b, c, i: b.ssh_key_update(c, i),
    "sshKey.remove": lambda b, c, i: b.ssh_key_remove(c, i["sshKeyId"]),
    "sshKey.generate": lambda b, c, i: b.ssh_key_generate(c, i.get("type")),
    "server.create": lambda b, c, i: b.server_create(c, i),
    "server.one": lambda b, c, i: b.server_one(c, i["serverId"]),
    "server.all": lambda b, c, i: b.server_all(c),
    "server.withSSHKey": lambda b, c, i: b.server_with_ssh_key(c),
    "server.count": lambda b, c, i: b.server_count(c),
    "server.update": lambda b, c, i: b.server_update(c, i),
    "server.remove": lambda b, c, i: b.server_remove(c, i["serverId"]),
    "server.setup": lambda b, c, i: b.server_setup(c, i["serverId"]),
    "server.validate": lambda b, c, i: b.server_validate(c, i["serverId"]),
    "organization.all": lambda b, c, i: b.organization_all(c),
    "organization.one": lambda b, c, i: b.organization_one(c, i["organizationId"]),
    "organization.active": lambda b, c, i: b.organization_active(c),
    "organization.create": lambda b, c, i: b.organization_create(c, i["name"], i.get("logo")),
    "user.createApiKey": lambda b, c, i: b.user_create_api_key(c, i),
    "user.deleteApiKey": lambda b, c, i: b.user_delete_api_key(c, i["apiKeyId"]),
    "user.get": lambda b, c, i: b.user_get(c),
    "user.session": lambda b, c, i: b.user_session(c),
    "stripe.canCreateMoreServers": lambda b, c, i: b.can_create_more_servers(c),
}

# Procedures that manage the backend lock themselves because they block for a long time.
SELF_LOCKING = frozenset({"server.setup"})


def call(backend: Backend, procedure: str, caller: Caller, parsed: Any) -> Any:
    """Run one procedure under the backend lock (unless it locks itself)."""
    handler = HANDLERS[procedure]
    if procedure in SELF_LOCKING:
        return handler(backend, caller, parsed)
    with backend.lock:
        return handler(backend, caller, parsed)
