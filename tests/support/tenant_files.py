"""Tenant declaration files as an operator writes them in ``tenants/``, for tests of names and slugs."""

from __future__ import annotations

import textwrap


def tenant_yaml(slug: str, servers: int = 1, extra: str = "", org_prefix: str = "org") -> str:
    """A valid ``business`` tenant in ``pve-eu1``; ``extra`` is appended verbatim (further fields)."""
    return (
        textwrap.dedent(f"""\
        slug: {slug}
        display_name: {slug}
        plan: business
        region: pve-eu1
        dokploy_organization: {org_prefix}_{slug.replace("-", "_")}
        owner: ops@{slug}.example
        servers: {servers}
        """)
        + extra
    )
