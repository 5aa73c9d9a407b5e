"""A signup event's body, and the tenant declaration it becomes (validated by components.spec)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from components.environment import Environment
from components.spec import SpecErrors, TenantSpec, dump_tenant, parse_tenant
from policies import quotas as q
from policies.request import check_in_environment

# Request field -> declaration field, so spec errors name what the sender actually sent.
_REQUEST_FIELD = {"dokploy_organization": "organization_id", "owner": "contact_email"}
# Policy -> the request field that decides it.
_POLICY_FIELD = {q.TENANT_SERVER_QUOTA: "servers", q.VM_WITHIN_PLAN: "plan", q.VM_TEMPLATE_ALLOWED: "region",
                 q.DNS_IN_ZONE: "slug"}


class Signup(BaseModel):
    """``POST /v1/signups`` body: one Dokploy organization asking for a tenant environment."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="Sender's unique id of this event")
    slug: str | None = Field(default=None, description="Tenant slug (DNS label); derived from organization if absent")
    organization: str | None = Field(default=None, max_length=100, description="Organization name")
    organization_id: str = Field(description="Dokploy organization id")
    plan: str = Field(description="Plan name from the environment's plans")
    region: str | None = Field(default=None, description="Region; the service's default if absent")
    contact_email: str = Field(description="Contact e-mail address of the tenant's owner")
    display_name: str | None = Field(default=None, description="Human name; organization if absent")
    servers: int | None = Field(default=None, description="Number of servers (1 to the plan's max_servers)")


@dataclass(frozen=True)
class FieldProblem:
    """One rejected request field."""

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


class SignupRejected(ValueError):
    """The signup cannot become a tenant; ``problems`` name each request field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def parse_signup(body: bytes) -> Signup:
    """Decode and type-check a JSON body; raise :class:`SignupRejected` naming each field."""
    try:
        return Signup.model_validate_json(body)
    except ValidationError as exc:
        problems = [FieldProblem(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"]) for err in exc.errors()]
        raise SignupRejected(problems) from None


def slug_from_organization(name: str) -> str:
    """``"ACME Corp."`` -> ``"acme-corp"``: a DNS label of at most 63 characters."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")


def declaration(signup: Signup, environment: Environment, default_region: str | None) -> tuple[TenantSpec, str]:
    """The validated tenant spec of ``signup`` and its YAML text; raise :class:`SignupRejected`."""
    slug = signup.slug or slug_from_organization(signup.organization or "")
    if not slug:
        raise SignupRejected([FieldProblem("slug", "give a slug or an organization name to derive it from")])
    data: dict[str, Any] = {
        "slug": slug, "display_name": signup.display_name or signup.organization or slug,
        "plan": signup.plan, "region": signup.region or default_region or next(iter(environment.regions)),
        "dokploy_organization": signup.organization_id, "owner": signup.contact_email,
    }
    if signup.servers is not None:
        data["servers"] = signup.servers
    text = yaml.safe_dump(data, sort_keys=False)
    refused = policy_problems(environment, slug, signup.plan, signup.servers or 1, data["region"])
    try:
        spec = parse_tenant(text, f"signup:{slug}", environment.plans, expected_slug=slug,
                            regions=environment.regions)
    except SpecErrors as errors:
        taken = {p.field for p in refused}
        problems = [FieldProblem(_REQUEST_FIELD.get(e.field, e.field), e.message) for e in errors.errors]
        raise SignupRejected(refused + [p for p in problems if p.field not in taken]) from None
    if refused:
        raise SignupRejected(refused)
    return spec, dump_tenant(spec)


def policy_problems(environment: Environment, slug: str, plan: str, servers: int, region: str) -> list[FieldProblem]:
    """The quota pack's verdict on the tenant this request would declare (same policy names and messages).

    Unknown plans and malformed counts are left to the spec's own errors.
    """
    if plan not in environment.plans or servers < 1:
        return []
    violations = check_in_environment(environment, tenant=slug, plan_name=plan, servers=servers, region=region)
    return [FieldProblem(_POLICY_FIELD.get(v.policy, "(request)"), v.message, v.policy) for v in violations]
