"""What a cluster administrator does once per simulated cluster: the product's least-privilege layout.

The local cloud never hands the product a root token: it creates the provisioning user, its
privilege-separated token, the region's pool, the roles and the ACLs of
:mod:`provisioning.proxmox_access` in the simulator, as ``pveum`` would on a real cluster.
"""

from __future__ import annotations

from components.environment import Environment, Region
from provisioning.proxmox_access import ROLES, grants
from sim.proxmox.backend import Backend
from sim.proxmox.entities import Pool


class RootTokenRefused(ValueError):
    """The local cloud runs the product with least privilege; a root token is refused."""


def split_token(token: str) -> tuple[str, str, str]:
    """``user@realm!tokenid=secret`` → (user, tokenid, secret)."""
    user, _, rest = token.partition("!")
    token_id, _, secret = rest.partition("=")
    if not (user and token_id and secret):
        raise ValueError("PROXMOX_VE_API_TOKEN must look like user@realm!tokenid=secret")
    return user, token_id, secret


def grant_provisioner(
    backend: Backend,
    region: Region,
    token: str,
    roles: dict[str, tuple[str, ...]] | None = None,
    environment: Environment | None = None,
) -> None:
    """Create ``token`` (privsep) and its user, the region's pool, the roles and the ACLs.

    ``roles`` replaces :data:`ROLES` (tests take one privilege away)."""
    user, token_id, secret = split_token(token)
    if user == "root@pam":
        raise RootTokenRefused(
            f"region {region.name}: the product runs with the least-privilege token of "
            f"docs/proxmox-privileges.md, not as root@pam; use e.g. dokploy-cloud@pve!{token_id}"
        )
    acc = backend.access
    with backend.lock:
        backend.pools.setdefault(region.pool, Pool(region.pool, "Dokploy Cloud tenant VMs"))
        for name, privs in (ROLES if roles is None else roles).items():
            acc.roles[name] = set(privs)
        if user not in acc.users:
            acc.add_user(user)
        acc.add_token(user, token_id, secret, privsep=True)
        for grant in grants(region, environment):
            acc.add_acl(grant.path, grant.role, user=user, propagate=grant.propagate)
            acc.add_acl(grant.path, grant.role, token=f"{user}!{token_id}", propagate=grant.propagate)


def grant_monitor(backend: Backend, token: str) -> None:
    """Create the monitoring ``token`` (privsep) and its user, read-only: PVEAuditor on ``/``, as
    ``pveum acl modify / --users <user> --tokens <token> --roles PVEAuditor`` would."""
    user, token_id, secret = split_token(token)
    if user == "root@pam":
        raise RootTokenRefused("the exporter reads with a PVEAuditor token, not as root@pam")
    acc = backend.access
    with backend.lock:
        if user not in acc.users:
            acc.add_user(user)
        acc.add_token(user, token_id, secret, privsep=True)
        acc.add_acl("/", "PVEAuditor", user=user, propagate=True)
        acc.add_acl("/", "PVEAuditor", token=f"{user}!{token_id}", propagate=True)
