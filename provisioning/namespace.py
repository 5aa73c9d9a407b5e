"""One namespace of slugs and host names for the tenants declared in git (``tenants/``) and by the service.

Both kinds of tenant become stack ``<env>.<slug>`` and DNS names under the same zone (see
:mod:`components.spec.hostnames`). Pure over declarations: the service checks a signup against both
kinds (:mod:`service.namespace`), ``scripts/cloudctl`` checks the git tenants against the service's
before applying them, reading the service's database read-only (:mod:`storage.tenants`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from components.environment import Environment
from components.spec import SpecErrors, TenantSpec, load_tenant, parse_tenant
from components.spec.hostnames import clashes

SUFFIXES = (".yaml", ".yml")


def git_tenants(directory: Path, environment: Environment) -> tuple[set[str], list[TenantSpec]]:
    """(slugs declared in ``directory``, the specs that parse); a broken file still reserves its slug."""
    slugs: set[str] = set()
    specs: list[TenantSpec] = []
    if not directory.is_dir():
        return slugs, specs
    for path in sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and not p.name.startswith(".")):
        slugs.add(path.stem)
        try:
            specs.append(load_tenant(path, environment.plans))
        except SpecErrors:
            continue
    return slugs, specs


def parse_declarations(declared: Iterable[tuple[str, str]], environment: Environment) -> list[TenantSpec]:
    """The service's tenants from (slug, declaration text) pairs; those that no longer parse are skipped."""
    specs = []
    for slug, text in declared:
        try:
            specs.append(parse_tenant(text, f"service:{slug}", environment.plans, expected_slug=slug))
        except SpecErrors:
            continue
    return specs


def git_conflicts(git_specs: list[TenantSpec], service_specs: list[TenantSpec]) -> list[str]:
    """One line per git tenant whose slug or host names the service's tenants already hold."""
    owned = {spec.slug for spec in service_specs}
    problems = []
    for spec in git_specs:
        if spec.slug in owned:
            problems.append(
                f"{spec.source}: slug {spec.slug!r} belongs to a tenant of the provisioning service; "
                "both would be stack <env>.<slug>: rename this tenant"
            )
        for name, other in clashes(spec, service_specs)[:1]:
            problems.append(f"{spec.source}: host name {name!r} is already used by the service's tenant {other.slug!r}")
    return problems
