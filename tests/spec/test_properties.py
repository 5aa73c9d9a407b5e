"""Hypothesis properties: valid specs round-trip; mutations are accepted or name a field and line."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.spec import SpecErrors, dump_tenant, parse_plans, parse_tenant
from tests.strategies import mutated, plans_config, tenant_documents


@st.composite
def plans_and_doc(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    config = draw(plans_config())
    return config, draw(tenant_documents(config))


@settings(max_examples=60, deadline=None)
@given(plans_and_doc())
def test_valid_specs_round_trip(case):
    config, doc = case
    plans = parse_plans(config)
    spec = parse_tenant(yaml.safe_dump(doc, sort_keys=False), "t.yaml", plans)
    again = parse_tenant(dump_tenant(spec), "t.yaml", plans)
    assert again == spec
    assert dump_tenant(again) == dump_tenant(spec)


@settings(max_examples=120, deadline=None)
@given(st.data())
def test_mutations_are_accepted_or_name_a_field(data):
    config = data.draw(plans_config())
    doc = data.draw(mutated(data.draw(tenant_documents(config))))
    text = yaml.safe_dump(doc, sort_keys=False)
    try:
        spec = parse_tenant(text, "t.yaml", parse_plans(config))
    except SpecErrors as exc:
        assert exc.errors and len(set(exc.errors)) == len(exc.errors)
        top_keys = set(doc) | set(TENANT_REQUIRED)
        for err in exc.errors:
            assert err.source == "t.yaml"
            assert err.line is not None and 1 <= err.line <= max(1, text.count("\n"))
            assert err.field.split("[")[0] in top_keys
            assert f"t.yaml:{err.line}: field '{err.field}'" in str(exc)
    else:
        assert spec.slug == doc["slug"] and spec.plan == doc["plan"]


TENANT_REQUIRED = ("slug", "display_name", "plan", "region", "dokploy_organization", "owner")
