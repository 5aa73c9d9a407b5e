"""Fleet status: what each tenant stack holds and how its last update went."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass, field

from pulumi import automation as auto

from components.environment import Environment
from components.spec import TenantSpec
from provisioning.stacks import TenantStacks
from provisioning.toolchain import PROJECT_DIR, pulumi_command


@dataclass
class TenantStatus:
    """One row of the fleet table."""

    slug: str
    plan: str
    region: str
    nodes: list[str]
    vm_ids: list[int]
    addresses: list[str]
    hostnames: list[str]
    dokploy_servers: list[str]
    last_result: str
    last_update: dt.datetime | None
    templates: list[str] = field(default_factory=list)
    """Per server: the template version it was cloned from (``#<id>`` when no version names it, ``-`` unknown),
    marked ``(outdated)`` when it is not the current one."""
    outdated: bool = False
    """Some server runs a template version other than the environment's current one."""

    @property
    def age(self) -> str:
        """Time since the last update, as ``3m`` / ``2h`` / ``4d``."""
        if self.last_update is None:
            return "-"
        seconds = (dt.datetime.now(dt.UTC) - self.last_update).total_seconds()
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                return f"{int(seconds // size)}{unit}"
        return f"{int(seconds)}s"


def tenant_status(stacks: TenantStacks, spec: TenantSpec) -> TenantStatus:
    """Status of one tenant from its stack (never deployed: empty outputs, result ``not deployed``)."""
    slug = spec.slug
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(PROJECT_DIR), env_vars=stacks.env_vars(spec), pulumi_command=pulumi_command()
    )
    try:
        stack = auto.select_stack(stack_name=stacks.stack_name(slug), work_dir=str(PROJECT_DIR), opts=opts)
    except auto.StackNotFoundError:
        return TenantStatus(slug, spec.plan, spec.region, [], [], [], [], [], "not deployed", None)
    outputs = {k: v.value for k, v in stack.outputs().items() if not v.secret}
    history = stack.history(page_size=1)
    last = history[0] if history else None
    templates, outdated = template_labels(stacks.environment, spec.region, list(outputs.get("templateIds") or []))
    return TenantStatus(
        slug,
        spec.plan,
        spec.region,
        list(outputs.get("nodes") or []),
        list(outputs.get("vmIds") or []),
        list(outputs.get("addresses") or []),
        list(outputs.get("hostnames") or []),
        list(outputs.get("dokployServerIds") or []),
        f"{last.kind} {last.result}" if last else "never updated",
        dt.datetime.fromisoformat(str(last.end_time)).astimezone(dt.UTC) if last and last.end_time else None,
        templates,
        outdated,
    )


def template_labels(
    environment: Environment, region_name: str, template_ids: list[int | None]
) -> tuple[list[str], bool]:
    """Per server the version its template belongs to, and whether any server is off the current version.
    A template no declared version holds any more counts as outdated; an unknown one (warm pool, container) not."""
    region = environment.regions.get(region_name)
    current = environment.template_version
    labels, outdated = [], False
    for vmid in template_ids:
        version = region.template_version(vmid) if region is not None and vmid is not None else None
        label = version or (f"#{vmid}" if vmid is not None else "-")
        if current is not None and vmid is not None and version != current:
            outdated = True
            label += " (outdated)"
        labels.append(label)
    return labels, outdated


def fleet_status(stacks: TenantStacks, tenants: Iterable[TenantSpec], parallel: int = 4) -> list[TenantStatus]:
    """Status of every tenant, read in parallel, in the order given."""
    with futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        return list(pool.map(lambda spec: tenant_status(stacks, spec), tenants))
