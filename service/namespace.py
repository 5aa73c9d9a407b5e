"""The service's side of the one tenant namespace (:mod:`provisioning.namespace`).

A signup is refused when its slug is declared in git, or when a host name it would get is already held
by another tenant (see :mod:`components.spec.hostnames`). Same-slug service signups are the queue's to judge, and
so is one live tenant per Dokploy organization (``JobQueue.submit_signup``); one tenant per Stripe
customer is the billing store's binding (:mod:`billing.adapter.store`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from components.environment import Environment
from components.spec import SpecErrors, TenantSpec, dump_tenant, parse_tenant
from components.spec.hostnames import clashes
from provisioning.namespace import git_tenants, parse_declarations
from service.queue import Conflict, JobQueue


def service_tenants(queue: JobQueue, environment: Environment) -> list[TenantSpec]:
    """The service's tenants as declared (those whose declaration no longer parses are skipped)."""
    return parse_declarations(((t.slug, t.declaration) for t in queue.list_tenants()), environment)


def check_signup_namespace(spec: TenantSpec, git_dir: Path, queue: JobQueue, environment: Environment) -> None:
    """Raise :class:`Conflict` (409) naming the clash when ``spec`` cannot take its slug or host names."""
    git_slugs, git_specs = git_tenants(git_dir, environment)
    if spec.slug in git_slugs:
        raise Conflict(
            f"slug {spec.slug!r} is taken by a tenant declared in {git_dir.name}/ (managed from git); "
            "choose another slug"
        )
    found = clashes(spec, [*git_specs, *service_tenants(queue, environment)])
    if found:
        name, other = found[0]
        raise Conflict(f"host name {name!r} is already used by tenant {other.slug!r}; choose another slug")


def pin_existing_hostnames(queue: JobQueue, environment: Environment) -> list[str]:
    """Keep the names of service tenants declared before per-tenant subdomains; return their slugs.

    Since then every declaration with more than one server names its ``hostname_scheme``, so one
    without it was written before and its servers 2..n are ``<label>-<n>``: pin ``numbered``. Idempotent.
    """
    pinned = []
    for tenant in queue.list_tenants():
        data = yaml.safe_load(tenant.declaration) or {}
        if not isinstance(data, dict) or "hostname_scheme" in data or int(data.get("servers") or 1) <= 1:
            continue
        try:
            spec = parse_tenant(
                tenant.declaration, f"service:{tenant.slug}", environment.plans, expected_slug=tenant.slug
            )
        except SpecErrors:
            continue
        pinned_spec = replace(spec, hostname_scheme="numbered")
        queue.update_declaration(tenant.slug, pinned_spec.plan, dump_tenant(pinned_spec))
        pinned.append(tenant.slug)
    return pinned
