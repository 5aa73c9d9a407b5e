"""The environment's clients for fleet-wide work (reconcile and its fixes, the fleet exporter): one way to
build each, with the credentials of :meth:`TenantStacks.secrets` and the region's endpoint."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from proxmoxer import ProxmoxAPI

from clients.dokploy.client import DokployClient
from clients.powerdns import PowerDNSClient
from clients.proxmox import client_from_env
from components.naming import PDNS_API_KEY_VAR, PROXMOX_MONITOR_TOKEN_VAR, PROXMOX_TOKEN_VAR
from provisioning.dokploy_keys import KEY_RETRY, KEY_TIMEOUT, organization_key

if TYPE_CHECKING:
    from provisioning.stacks import TenantStacks


def proxmox(stacks: TenantStacks, region: str, *, read_only: bool = False) -> ProxmoxAPI:
    """A client of ``region``'s cluster: the provisioning token, or for ``read_only`` work the monitoring token
    (``PROXMOX_VE_MONITOR_TOKEN``, PVEAuditor on ``/``) when it is set."""
    secrets = stacks.secrets()
    token = (os.environ.get(PROXMOX_MONITOR_TOKEN_VAR) if read_only else None) or secrets[PROXMOX_TOKEN_VAR]
    return client_from_env(env={**secrets, PROXMOX_TOKEN_VAR: token, **stacks.region_variables(region)})


@contextmanager
def organization_client(stacks: TenantStacks, organization: str) -> Iterator[DokployClient]:
    """A client acting in ``organization`` with a per-run key (minted, in the key ledger, revoked on exit)."""
    env = stacks.environment
    with organization_key(
        stacks.dokploy_platform(), organization, env=env.name, stack=f"{env.name}:reconcile", ledger=stacks.key_ledger()
    ) as key:
        yield DokployClient(env.dokploy_url, key, timeout=KEY_TIMEOUT, retry=KEY_RETRY)


def powerdns(stacks: TenantStacks) -> PowerDNSClient:
    """The environment's PowerDNS API client."""
    return PowerDNSClient(stacks.environment.dns_api_url, stacks.secrets().get(PDNS_API_KEY_VAR, ""))


def zone_name(stacks: TenantStacks) -> str:
    """The tenant zone as PowerDNS names it (absolute, with the trailing dot)."""
    zone = stacks.environment.zone
    return zone if zone.endswith(".") else f"{zone}."
