"""How a tenant's declaration reaches the Pulumi program: one way, parsed once per process.

Where a declaration comes from:

- a git tenant: ``tenants/<slug>.yaml`` (:class:`TenantFiles`), read by cloudctl, CI and the demo;
- a service tenant: the text stored with the tenant in the queue by its signup or a billing change
  (:func:`stored_tenant`), read by the worker that leased the job.

Either way the caller parses it once into a :class:`~components.spec.TenantSpec` and hands that to a
:class:`~provisioning.runs.Runner`. The runner passes it to the program as canonical YAML in the engine's
environment (:data:`TENANT_DECLARATION_VAR`, see :func:`engine_variables`), and the program parses it once
(:func:`program_tenant`). Nothing is written to disk on the way: a killed worker leaves no declaration
file behind to go stale, a scale-out host needs no shared directory, and the customer data in a
declaration lives only in the queue and in the environment of the run's own processes (readable by
their owner only, like the credentials next to it). The program reads ``tenants/<slug>.yaml`` itself
only when started without the variable, i.e. by an operator's bare ``pulumi`` command.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from components.environment import Environment
from components.naming import TENANT_DECLARATION_VAR
from components.spec import (
    TenantSpec,
    dump_tenant,
    load_tenant,
    load_tenants,
    parse_tenant,
)

"""The engine environment variable holding the tenant's declaration (YAML) for the program."""


class TenantFiles:
    """The tenants declared in git: ``<directory>/<slug>.yaml``, validated against one environment."""

    def __init__(self, directory: Path, environment: Environment) -> None:
        self.directory = Path(directory)
        self.environment = environment

    def load(self, slug: str) -> TenantSpec:
        """The validated declaration of ``slug``; raise :class:`~components.spec.SpecErrors`."""
        return load_tenant(self.directory / f"{slug}.yaml", self.environment.plans, regions=self.environment.regions)

    def load_all(self) -> dict[str, TenantSpec]:
        """Every declared tenant by slug, checked together (no two share a slug or host name)."""
        return load_tenants(self.directory, self.environment.plans, regions=self.environment.regions)


def stored_tenant(slug: str, text: str, environment: Environment) -> TenantSpec:
    """A declaration the service stored for ``slug``, validated; raise :class:`~components.spec.SpecErrors`."""
    return parse_tenant(text, f"service:{slug}", environment.plans, expected_slug=slug, regions=environment.regions)


def engine_variables(tenant: TenantSpec) -> dict[str, str]:
    """The environment variables that carry ``tenant``'s declaration to the program."""
    return {TENANT_DECLARATION_VAR: dump_tenant(tenant)}


def program_tenant(
    slug: str, environment: Environment, tenants_dir: Path, variables: Mapping[str, str] = os.environ
) -> TenantSpec:
    """The declaration the program applies: the runner's (:data:`TENANT_DECLARATION_VAR`), else the git file."""
    text = variables.get(TENANT_DECLARATION_VAR)
    if text is None:
        return TenantFiles(tenants_dir, environment).load(slug)
    return parse_tenant(
        text, f"{TENANT_DECLARATION_VAR} of {slug}", environment.plans, expected_slug=slug, regions=environment.regions
    )
