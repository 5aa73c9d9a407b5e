"""The benchmarks' isolated environment: a fresh state, allocation store and environment file on free ports,
with the least-privilege token production uses (never root)."""

from __future__ import annotations

import os
from pathlib import Path

from components.spec import TenantSpec, load_tenants
from provisioning.stacks import TenantStacks
from tests.e2e.conftest import write_environment

CREDENTIALS = {
    "PROXMOX_VE_API_TOKEN": "dokploy-cloud@pve!bench=6f1d1c1e-0000-4000-8000-000000000001",
    "DOKPLOY_API_KEY": "B" * 64,
    "PDNS_API_KEY": "bench-pdns-key",
}


def isolated_stacks(root: Path) -> tuple[TenantStacks, dict[str, TenantSpec]]:
    """Point this process at ``root`` (environment file, backend, allocations) and load ``root/tenants``."""
    write_environment(root / "env.yaml")
    os.environ.update(
        {
            **CREDENTIALS,
            "DOKPLOY_CLOUD_ENV_FILE": str(root / "env.yaml"),
            "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
            "PULUMI_CONFIG_PASSPHRASE": "bench",
            "ALLOCATIONS_DB": str(root / "allocations.sqlite"),
        }
    )
    (root / "backend").mkdir()
    stacks = TenantStacks("local")
    specs = load_tenants(root / "tenants", stacks.environment.plans, regions=stacks.environment.regions)
    return stacks, specs
