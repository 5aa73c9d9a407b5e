"""Tenant specifications and plans: strict parsing of tenants/*.yaml and the plans config."""

from components.spec.errors import SpecError, SpecErrors
from components.spec.loader import TenantSpec, dump_tenant, load_tenant, load_tenants, parse_tenant
from components.spec.plans import BackupPolicy, Plan, load_plans, parse_plans

__all__ = [
    "BackupPolicy",
    "Plan",
    "SpecError",
    "SpecErrors",
    "TenantSpec",
    "dump_tenant",
    "load_plans",
    "load_tenant",
    "load_tenants",
    "parse_plans",
    "parse_tenant",
]
