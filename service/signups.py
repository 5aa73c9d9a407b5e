"""A signup event's body, and the tenant declaration it becomes (through :func:`service.declare.declare`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from components.environment import Environment
from components.spec import TenantSpec
from service.declare import DeclarationRefused, FieldProblem, declare

# Declaration field -> request field, so refusals name what the sender actually sent.
_REQUEST_FIELD = {"dokploy_organization": "organization_id", "owner": "contact_email"}


class Signup(BaseModel):
    """``POST /v1/signups`` body: one Dokploy organization asking for a tenant environment."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="Sender's unique id of this event")
    slug: str | None = Field(default=None, description="Tenant slug (DNS label); derived from organization if absent")
    organization: str | None = Field(default=None, max_length=100, description="Organization name")
    organization_id: str = Field(description="Dokploy organization id")
    plan: str = Field(description="Plan name from the environment's plans")
    region: str | None = Field(
        default=None, description="Region, or 'auto' for the placer's choice; the service's default if absent"
    )
    regions: list[str] | None = Field(
        default=None, max_length=16, description="With region 'auto': the regions to consider, most preferred first"
    )
    contact_email: str = Field(description="Contact e-mail address of the tenant's owner")
    display_name: str | None = Field(default=None, description="Human name; organization if absent")
    servers: int | None = Field(default=None, description="Number of servers (1 to the plan's max_servers)")


def parse_signup(body: bytes) -> Signup:
    """Decode and type-check a JSON body; raise :class:`~service.declare.DeclarationRefused` naming each field."""
    try:
        return Signup.model_validate_json(body)
    except ValidationError as exc:
        problems = [FieldProblem(".".join(str(p) for p in err["loc"]) or "(body)", err["msg"]) for err in exc.errors()]
        raise DeclarationRefused(problems) from None


def slug_from_organization(name: str) -> str:
    """``"ACME Corp."`` -> ``"acme-corp"``: a DNS label of at most 63 characters."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")


def declaration(signup: Signup, environment: Environment, default_region: str | None) -> tuple[TenantSpec, str]:
    """The validated tenant spec of ``signup`` and its YAML text (:func:`service.declare.declare`).

    Raises :class:`~service.declare.DeclarationRefused` naming the request's fields.
    """
    slug = signup.slug or slug_from_organization(signup.organization or "")
    if not slug:
        raise DeclarationRefused([FieldProblem("slug", "give a slug or an organization name to derive it from")])
    fields: dict[str, Any] = {
        "slug": slug,
        "display_name": signup.display_name or signup.organization or slug,
        "plan": signup.plan,
        "region": signup.region or default_region or next(iter(environment.regions)),
        "dokploy_organization": signup.organization_id,
        "owner": signup.contact_email,
    }
    if signup.servers is not None:
        fields["servers"] = signup.servers
    try:
        declared = declare(environment, fields, source=f"signup:{slug}")
    except DeclarationRefused as refused:
        raise refused.renamed(_REQUEST_FIELD) from None
    return declared.spec, declared.text
