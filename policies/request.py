"""The service's door check: refuse a tenant request over quota before it is queued.

It runs the same rule functions as the policy pack (:mod:`policies.quotas`) on the VM the tenant
program would build from the plan, so the refusal carries the pack's policy name and message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from components.environment import Environment
from components.naming import tenant_tags
from components.spec.hostnames import DEFAULT_SCHEME, server_labels
from components.spec.plans import Plan
from policies.config import policy_config
from policies.quotas import (
    VM_TEMPLATE_ALLOWED,
    Violation,
    hostname_in_zone,
    server_quota,
    template_allowed,
    vm_within_plan,
)
from policies.views import VmView


def check_request(
    plan_name: str,
    servers: int,
    plans: Mapping[str, Plan],
    *,
    tenant: str = "(request)",
    cores: int | None = None,
    memory_mb: int | None = None,
    disk_gb: int | None = None,
    templates: Iterable[int] = (),
    allowed_templates: Iterable[int] | None = None,
    hostnames: Iterable[str] = (),
    zone: str | None = None,
) -> list[Violation]:
    """Violations a request for ``servers`` servers on ``plan_name`` would cause; empty means allowed.

    Sizing defaults to the plan's own (what ``TenantEnvironment`` builds); pass ``cores``/``memory_mb``/
    ``disk_gb`` for a custom size. ``templates`` are checked against ``allowed_templates`` when given,
    ``hostnames`` (FQDNs) against ``zone`` when given.
    """
    if servers < 0:
        raise ValueError(f"servers must be >= 0, got {servers}")
    out = server_quota(tenant, plan_name, servers, plans)
    plan = plans.get(plan_name)
    if plan is not None:
        vm = VmView(
            name=f"{tenant}-s0-vm",
            tags=tuple(tenant_tags(tenant, plan_name)),
            cores=plan.cores if cores is None else cores,
            memory_mb=plan.memory_mb if memory_mb is None else memory_mb,
            disk_gb=plan.disk_gb if disk_gb is None else disk_gb,
        )
        out += vm_within_plan(vm, plans)
    if allowed_templates is not None:
        allowed = list(allowed_templates)
        for template in templates:
            out += template_allowed(VmView(name=f"{tenant}-s0-vm", template=template), allowed)
    if zone is not None:
        for host in hostnames:
            out += hostname_in_zone(host if host.endswith(".") else host + ".", None, zone, resource=f"hostname {host}")
    return out


def check_in_environment(
    env: Environment,
    *,
    tenant: str,
    plan_name: str,
    servers: int,
    region: str | None = None,
    host_label: str | None = None,
    hostname_scheme: str = DEFAULT_SCHEME,
) -> list[Violation]:
    """:func:`check_request` with the limits the pack gets for ``env`` (:func:`policies.config.policy_config`).

    Checks the server count and plan sizing, the region's templates (when ``region`` is known) and the
    host names the tenant's servers would get (when ``host_label`` is given), as ``TenantEnvironment``
    would build them.
    """
    config = policy_config(env)
    reg = env.regions.get(region) if region else None
    label = host_label or tenant
    hostnames = [f"{name}.{env.zone}" for name in server_labels(label, servers, hostname_scheme)]
    return check_request(
        plan_name,
        servers,
        env.plans,
        tenant=tenant,
        templates=sorted(set(reg.templates.values())) if reg else (),
        allowed_templates=config[VM_TEMPLATE_ALLOWED]["allowed_templates"],
        hostnames=hostnames,
        zone=env.zone,
    )
