"""``state: active|suspended`` in tenant files: default, validation naming the field, dump round-trip."""

from __future__ import annotations

import pytest

from components.spec import Plan, SpecErrors, dump_tenant, parse_tenant

PLANS = {"starter": Plan("starter", 2, 4096, 40, 1)}
BASE = (
    "slug: acme\ndisplay_name: Acme\nplan: starter\nregion: pve-eu1\n"
    "dokploy_organization: org_acme\nowner: ops@acme.example\n"
)


def test_state_defaults_to_active_and_is_not_dumped() -> None:
    spec = parse_tenant(BASE, "acme.yaml", PLANS)
    assert (spec.state, spec.suspended) == ("active", False)
    assert "state" not in dump_tenant(spec)


def test_suspended_round_trips() -> None:
    spec = parse_tenant(BASE + "state: suspended\n", "acme.yaml", PLANS)
    assert spec.suspended
    again = parse_tenant(dump_tenant(spec), "acme.yaml", PLANS)
    assert again == spec and "state: suspended" in dump_tenant(again)


def test_explicit_active_equals_the_default() -> None:
    assert parse_tenant(BASE + "state: active\n", "acme.yaml", PLANS) == parse_tenant(BASE, "acme.yaml", PLANS)


@pytest.mark.parametrize("value", ["paused", "SUSPENDED", "true", "1"])
def test_other_values_are_refused_naming_the_field_and_line(value: str) -> None:
    with pytest.raises(SpecErrors) as caught:
        parse_tenant(BASE + f"state: {value}\n", "acme.yaml", PLANS)
    errors = caught.value.errors
    assert errors and {(e.field, e.line) for e in errors} == {("state", 7)}
    assert any("'active'" in e.message and "'suspended'" in e.message for e in errors)
