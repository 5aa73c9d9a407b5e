"""The one way a tenant declaration is made or changed: build it, check it, or refuse it naming the field.

Signups (:mod:`service.signups`) and billing (:mod:`billing.adapter.sink`, :mod:`billing.adapter.checkout`)
both call :func:`declare`: the requested fields become a :class:`~components.spec.TenantSpec` through the
spec loader (:func:`components.spec.parse_tenant`), which is then checked by the quota pack's own rules
(:func:`policies.request.check_in_environment`). Anything wrong raises :class:`DeclarationRefused`, whose
problems name the declaration field and, for a quota refusal, the policy. Callers map it to their answer
(a 422, a logged billing refusal) and store accepted declarations only through the queue's interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from components.environment import Environment
from components.spec import SpecErrors, TenantSpec, dump_tenant, parse_tenant
from components.spec.hostnames import DEFAULT_SCHEME, SCHEMES
from policies import quotas as q
from policies.request import check_in_environment
from service.queue import JobQueue

# Policy -> the declaration field that decides it.
_POLICY_FIELD = {q.TENANT_SERVER_QUOTA: "servers", q.VM_WITHIN_PLAN: "plan", q.VM_TEMPLATE_ALLOWED: "region"}


@dataclass(frozen=True)
class FieldProblem:
    """One refused field."""

    field: str
    message: str
    policy: str | None = None
    """The quota policy (same name as in the CrossGuard pack) when a policy refused it."""

    def public(self) -> dict[str, str]:
        """The 422 detail entry: field, message and, for policy refusals, the policy's name."""
        out = {"field": self.field, "message": self.message}
        if self.policy:
            out["policy"] = self.policy
        return out


class DeclarationRefused(ValueError):
    """The declaration cannot be made; ``problems`` name each field (and the policy, for quota refusals)."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{p.field}: {p.message}" + (f" [{p.policy}]" if p.policy else "") for p in problems)
        )

    @property
    def fields(self) -> list[str]:
        """The refused fields, in order."""
        return [p.field for p in self.problems]

    def renamed(self, names: Mapping[str, str]) -> DeclarationRefused:
        """The same refusal with fields renamed (declaration field -> the caller's request field)."""
        return DeclarationRefused(
            [FieldProblem(names.get(p.field, p.field), p.message, p.policy) for p in self.problems]
        )


@dataclass(frozen=True)
class Declaration:
    """An accepted declaration: the parsed spec and the YAML text to store."""

    spec: TenantSpec
    text: str


def declare(environment: Environment, fields: Mapping[str, Any], *, source: str) -> Declaration:
    """Build and check the tenant ``fields`` declare; raise :class:`DeclarationRefused` naming each field.

    ``fields`` are declaration fields (``tenants/<slug>.yaml``'s). A field the quota pack refuses is named
    once, with the policy; the spec loader's other findings follow.
    """
    slug = fields.get("slug")
    refused = _policy_problems(environment, fields)
    try:
        spec = parse_tenant(
            yaml.safe_dump(dict(fields), sort_keys=False),
            source,
            environment.plans,
            expected_slug=slug if isinstance(slug, str) else None,
            regions=environment.regions,
        )
    except SpecErrors as errors:
        taken = {p.field for p in refused}
        found = [FieldProblem(e.field, e.message) for e in errors.errors]
        raise DeclarationRefused(refused + [p for p in found if p.field not in taken]) from None
    if refused:
        raise DeclarationRefused(refused)
    return Declaration(spec, dump_tenant(spec))


def redeclare(
    environment: Environment,
    spec: TenantSpec,
    *,
    plan: str | None = None,
    servers: int | None = None,
    state: str | None = None,
) -> Declaration:
    """``spec`` with the given fields changed, through :func:`declare` (raises :class:`DeclarationRefused`).

    A plan whose disk is smaller than the current plan's is refused: Proxmox cannot shrink a disk, so the apply
    would fail for good (bpg: "Cannot shrink ..."); moving such a tenant takes a backup and a restore."""
    if plan is not None and plan in environment.plans and spec.plan in environment.plans:
        smaller, current = environment.plans[plan].disk_gb, environment.plans[spec.plan].disk_gb
        if smaller < current:
            raise DeclarationRefused(
                [
                    FieldProblem(
                        "plan",
                        f"plan {plan}'s disk ({smaller} GB) is smaller than {spec.plan}'s ({current} GB) and Proxmox "
                        "cannot shrink a disk; move the tenant by backup and restore instead",
                    )
                ]
            )
    fields: dict[str, Any] = yaml.safe_load(dump_tenant(spec))
    changes = {"plan": plan, "servers": servers, "state": state}
    fields.update({name: value for name, value in changes.items() if value is not None})
    return declare(environment, fields, source=f"service:{spec.slug}")


def stored_spec(queue: JobQueue, environment: Environment, slug: str) -> TenantSpec:
    """The tenant's declaration as the queue holds it (raises ``NotFound``; ``SpecErrors`` if it no longer parses)."""
    tenant = queue.get_tenant(slug)
    return parse_tenant(tenant.declaration, f"service:{slug}", environment.plans, expected_slug=slug)


def _policy_problems(environment: Environment, fields: Mapping[str, Any]) -> list[FieldProblem]:
    """The quota pack's verdict on the tenant ``fields`` would declare (same policy names and messages).

    Fields the pack cannot judge (unknown plan, malformed count or name) are left to the spec's own errors.
    """
    slug, plan, region = fields.get("slug"), fields.get("plan"), fields.get("region")
    servers, hostname = fields.get("servers", 1), fields.get("hostname")
    scheme = fields.get("hostname_scheme", DEFAULT_SCHEME)
    if (
        not isinstance(slug, str)
        or not slug
        or not isinstance(plan, str)
        or plan not in environment.plans
        or type(servers) is not int
        or servers < 1
        or scheme not in SCHEMES
        or (hostname is not None and not isinstance(hostname, str))
    ):
        return []
    label_field = "hostname" if hostname else "slug"
    violations = check_in_environment(
        environment,
        tenant=slug,
        plan_name=plan,
        servers=servers,
        region=region if isinstance(region, str) else None,
        host_label=hostname or slug,
        hostname_scheme=scheme,
    )
    return [
        FieldProblem(
            _POLICY_FIELD.get(v.policy, label_field if v.policy == q.DNS_IN_ZONE else "(declaration)"),
            v.message,
            v.policy,
        )
        for v in violations
    ]
