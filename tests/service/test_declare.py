"""The one declaration door: requested fields -> checked TenantSpec, or a refusal naming each field."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components.environment import Environment, load_environment
from provisioning.toolchain import PROJECT_DIR
from service.declare import DeclarationRefused, declare, redeclare


@pytest.fixture(scope="module")
def environment() -> Environment:
    return load_environment(PROJECT_DIR, "local")


def fields(**overrides: Any) -> dict[str, Any]:
    base = {
        "slug": "acme",
        "display_name": "ACME",
        "plan": "starter",
        "region": "pve-eu1",
        "dokploy_organization": "org_acme",
        "owner": "ops@acme.example",
    }
    return {**base, **overrides}


def test_accepted_fields_become_the_spec_and_its_text(environment: Environment) -> None:
    declared = declare(environment, fields(plan="business", servers=3), source="test:acme")
    assert (declared.spec.slug, declared.spec.plan, declared.spec.servers) == ("acme", "business", 3)
    assert yaml.safe_load(declared.text)["hostname_scheme"] == declared.spec.hostname_scheme


def test_a_quota_refusal_names_the_field_and_the_policy_once(environment: Environment) -> None:
    with pytest.raises(DeclarationRefused) as refused:
        declare(environment, fields(servers=2), source="test:acme")
    (problem,) = refused.value.problems
    assert (problem.field, problem.policy) == ("servers", "tenant-server-quota")
    assert "servers: tenant acme: 2 servers exceed plan 'starter'" in str(refused.value)


def test_every_spec_problem_is_named(environment: Environment) -> None:
    with pytest.raises(DeclarationRefused) as refused:
        declare(environment, fields(plan="platinum", region="mars-1", owner="nobody"), source="test:acme")
    assert set(refused.value.fields) == {"plan", "region", "owner"}
    assert refused.value.renamed({"owner": "contact_email"}).fields.count("contact_email") == 1


def test_redeclare_changes_only_the_given_fields(environment: Environment) -> None:
    spec = declare(environment, fields(), source="test:acme").spec
    changed = redeclare(environment, spec, plan="business", servers=2).spec
    assert (changed.plan, changed.servers, changed.state, changed.owner) == ("business", 2, "active", spec.owner)
    assert redeclare(environment, changed, state="suspended").spec.suspended
    with pytest.raises(DeclarationRefused) as refused:
        redeclare(environment, spec, servers=4)
    assert refused.value.fields == ["servers"]


def test_a_plan_with_a_smaller_disk_is_refused_naming_the_plan(environment: Environment) -> None:
    """Found by the fault soak: a downgrade from business (100 GB) to starter (40 GB) failed for good in bpg
    ("Cannot shrink local-lvm:vm-...-disk-0"); it is refused when declared, before anything runs."""
    business = declare(environment, fields(plan="business"), source="test:acme").spec
    with pytest.raises(DeclarationRefused) as refused:
        redeclare(environment, business, plan="starter")
    assert refused.value.fields == ["plan"] and "cannot shrink" in str(refused.value)
    assert redeclare(environment, business, plan="enterprise").spec.plan == "enterprise", "growing is fine"
