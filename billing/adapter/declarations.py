"""Rewrite a known tenant's declaration (plan, servers, state) in the queue, validated like a signup.

The worker writes ``tenant.declaration`` to disk before every run, so changing it here and queueing a
reapply makes the next engine run converge on it.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from components.environment import Environment
from components.spec import SpecErrors, TenantSpec, dump_tenant, parse_tenant
from policies.request import check_in_environment
from service.queue import JobQueue


class DeclarationRefused(ValueError):
    """The changed declaration would be invalid or over quota; the message names the field or policy."""


def current_spec(queue: JobQueue, environment: Environment, slug: str) -> TenantSpec:
    """The tenant's declaration as the service holds it (raises ``NotFound`` for an unknown tenant)."""
    tenant = queue.get_tenant(slug)
    return parse_tenant(tenant.declaration, f"service:{slug}", environment.plans, expected_slug=slug)


def changed_declaration(environment: Environment, spec: TenantSpec, *, plan: Optional[str] = None,
                        servers: Optional[int] = None, state: Optional[str] = None) -> tuple[TenantSpec, str]:
    """``spec`` with the given fields changed, validated by the spec loader and the quota policies."""
    new = replace(spec, plan=plan if plan is not None else spec.plan,
                  servers=servers if servers is not None else spec.servers,
                  state=state if state is not None else spec.state)
    text = dump_tenant(new)
    try:
        checked = parse_tenant(text, f"billing:{spec.slug}", environment.plans, expected_slug=spec.slug,
                               regions=environment.regions)
    except SpecErrors as errors:
        raise DeclarationRefused("; ".join(f"{e.field}: {e.message}" for e in errors.errors)) from None
    violations = check_in_environment(environment, tenant=spec.slug, plan_name=checked.plan, servers=checked.servers,
                                      region=checked.region, host_label=checked.host_label,
                                      hostname_scheme=checked.hostname_scheme)
    if violations:
        raise DeclarationRefused("; ".join(f"[{v.policy}] {v.message}" for v in violations))
    return checked, text


def store_declaration(queue: JobQueue, slug: str, spec: TenantSpec, text: str) -> None:
    """Replace the tenant's declaration and plan in the queue."""
    queue.update_declaration(slug, spec.plan, text)
