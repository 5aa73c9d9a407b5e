"""The simulator accepts what Dokploy's OpenAPI document accepts and rejects what it rejects.

Instances are generated from the document's own schemas; ``jsonschema`` confirms each one is
(in)valid per the document before it is sent, so the test cannot drift into checking itself.
Known, documented divergences (CONTRACT §1.2, §4.2): zod's top-level coercion (not exercised:
type mutations of coercible fields are skipped) and the SSH key-format refinements (valid
instances use real key pairs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from sim.dokploy.admin import seed
from sim.dokploy.backend import Backend
from sim.dokploy.openapi_validation import NO_COERCION, input_schema, load_procedures
from sim.dokploy.responses import HANDLERS
from sim.dokploy.testing import keypair
from sim.dokploy.urls import create_app

REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "dokploy" / "dokploy-openapi.json"
PROCEDURES = load_procedures()
WITH_INPUT = sorted(p for p, spec in PROCEDURES.items() if input_schema(spec) is not None)
PRIVATE, PUBLIC = keypair("conformance")
SPECIAL = {"publicKey": st.just(PUBLIC), "privateKey": st.just(PRIVATE)}
TEXT = st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=12)


@pytest.fixture(scope="module")
def sim() -> Iterator[tuple[TestClient, str]]:
    backend = Backend()
    info = seed(backend, {"email": "c@example.test"})
    with TestClient(create_app(backend)) as client:
        yield client, info["apiKey"]


def from_schema(schema: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values valid for a JSON schema (the subset the document uses)."""
    if name in SPECIAL:
        return SPECIAL[name]
    if "anyOf" in schema:
        return st.one_of([from_schema(s, name) for s in schema["anyOf"]])
    kind = schema.get("type")
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: from_schema(v, k) for k, v in props.items() if k in required},
            optional={k: from_schema(v, k) for k, v in props.items() if k not in required},
        )
    if kind == "number":
        return st.integers(0, 10_000)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    size = (schema.get("minLength", 0), schema.get("maxLength", 12))
    return TEXT.filter(lambda s: size[0] <= len(s) <= size[1]) if size[0] else TEXT.map(lambda s: s[: size[1]])


def _send(client: TestClient, key: str, procedure: str, data: dict[str, Any]) -> Any:
    headers = {"x-api-key": key}
    if PROCEDURES[procedure]["method"] == "GET":
        return client.get(f"/api/{procedure}", params=data, headers=headers)
    return client.post(f"/api/{procedure}", json=data, headers=headers)


def _mutations(procedure: str, schema: dict[str, Any], valid: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field, instance) pairs that break exactly one rule of the schema."""
    out = []
    coerced = procedure not in NO_COERCION
    get = PROCEDURES[procedure]["method"] == "GET"
    for name, sub in schema.get("properties", {}).items():
        if name in schema.get("required", []):
            out.append((name, {k: v for k, v in valid.items() if k != name}))
        inner = next((s for s in sub.get("anyOf", []) if s != {"type": "null"}), sub)
        if inner.get("minLength"):
            out.append((name, {**valid, name: ""}))
        if "enum" in inner:
            out.append((name, {**valid, name: "not-an-option"}))
        if get:
            continue  # query values are always strings
        if inner.get("type") == "string":
            out.append((name, {**valid, name: 12345}))
        elif inner.get("type") in ("number", "boolean") and not coerced:
            out.append((name, {**valid, name: "12"}))
        elif inner.get("type") == "object":
            out.append((name, {**valid, name: "not-an-object"}))
    return out


def test_subset_is_verbatim_from_the_reference_document() -> None:
    full = json.loads(REFERENCE.read_text())["paths"]
    for procedure, spec in PROCEDURES.items():
        op = full["/" + procedure][spec["method"].lower()]
        if "body" in spec:
            assert op["requestBody"]["content"]["application/json"]["schema"] == spec["body"]
        assert [p["name"] for p in op.get("parameters", [])] == [p["name"] for p in spec.get("query", [])]


def test_every_documented_procedure_is_served() -> None:
    assert set(HANDLERS) == set(PROCEDURES)


@pytest.mark.parametrize("procedure", WITH_INPUT)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_documented_valid_input_passes_validation(sim: tuple[TestClient, str], procedure: str, data: Any) -> None:
    schema = input_schema(PROCEDURES[procedure])
    assert schema is not None
    instance = data.draw(from_schema(schema))
    jsonschema.validate(instance, schema)
    resp = _send(*sim, procedure, instance)
    body = resp.json() if resp.content else None  # sshKey.create answers with an empty body
    assert resp.status_code != 415
    assert not (isinstance(body, dict) and body.get("message") == "Input validation failed"), body


@pytest.mark.parametrize("procedure", WITH_INPUT)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_documented_invalid_input_is_rejected(sim: tuple[TestClient, str], procedure: str, data: Any) -> None:
    schema = input_schema(PROCEDURES[procedure])
    assert schema is not None
    mutations = _mutations(procedure, schema, data.draw(from_schema(schema)))
    if not mutations:
        return  # e.g. sshKey.generate: nothing required, no constraints to break
    field, instance = data.draw(st.sampled_from(mutations))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(instance, schema)
    resp = _send(*sim, procedure, instance)
    body = resp.json()
    assert resp.status_code == 400 and body["message"] == "Input validation failed", body
    assert any(issue["path"][:1] == [field] for issue in body["issues"])
