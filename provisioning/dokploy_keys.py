"""Organization-scoped Dokploy API keys for one engine run.

A Dokploy API key acts inside exactly one organization, and every tenant has its own. The platform
holds one key (``DOKPLOY_API_KEY``, its user is an admin member of every tenant organization) and, for
each run, mints a short-lived key bound to the tenant's organization, with the rate limit off (the
default locks a key out after five requests). The key lives only in the run's environment and is
revoked afterwards; a key left by a killed run expires on its own after ``EXPIRES_IN`` seconds.
"""
from __future__ import annotations

import contextlib
import secrets
from typing import Iterator

from providers.dokploy_client import DokployClient

EXPIRES_IN = 86_400  # better-auth's minimum: one day


@contextlib.contextmanager
def organization_key(base_url: str, platform_key: str, organization_id: str) -> Iterator[str]:
    """Yield a fresh key bound to ``organization_id``; revoke it on exit."""
    platform = DokployClient(base_url, platform_key)
    created = platform.create_api_key(f"pulumi-run-{secrets.token_hex(4)}", organization_id,
                                      rate_limit_enabled=False, expires_in=EXPIRES_IN)
    try:
        yield str(created["key"])
    finally:
        platform.delete_api_key(str(created["id"]))
