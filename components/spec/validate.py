"""Turn JSON Schema violations into SpecErrors that name file, line and field."""

from __future__ import annotations

from typing import Any

import jsonschema

from components.spec.errors import SpecError
from components.spec.marked_yaml import MarkedDocument, Path

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "boolean": "true or false",
    "number": "a number",
}


def schema_errors(doc: MarkedDocument, schema: dict[str, Any], base: Path = ()) -> list[SpecError]:
    """Validate the value at ``base`` in ``doc`` against ``schema``; one SpecError per problem."""
    value: Any = doc.data
    for part in base:
        value = value[part]
    validator = jsonschema.Draft202012Validator(schema)
    errors: list[SpecError] = []
    for err in validator.iter_errors(value):
        errors.extend(_convert(doc, base + tuple(err.absolute_path), err))
    # jsonschema reports 'required' once per missing key, each listing all of them.
    return list(dict.fromkeys(errors))


def _convert(doc: MarkedDocument, path: Path, err: jsonschema.ValidationError) -> list[SpecError]:
    kind, schema, instance = err.validator, err.schema, err.instance
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = ", ".join(schema.get("properties", {}))
        extras = [k for k in instance if k not in schema.get("properties", {})]
        return [doc.error((*path, k), f"unknown field; allowed fields: {allowed}") for k in extras]
    if kind == "required" and isinstance(instance, dict):
        props = schema.get("properties", {})
        missing = [k for k in err.validator_value if k not in instance]
        return [
            doc.error((*path, k), "missing required field; expected " + props.get(k, {}).get("x-allowed", "a value"))
            for k in missing
        ]
    if "propertyNames" in err.schema_path:
        return [doc.error((*path, str(instance)), f"invalid name {_short(instance)}; allowed: {schema['x-allowed']}")]
    allowed = schema.get("x-allowed", "see the schema")
    return [doc.error(path, f"{_reason(kind, err.validator_value, instance)}; allowed: {allowed}")]


def _reason(kind: str, limit: Any, instance: Any) -> str:
    if kind == "type":
        names = [str(_TYPE_NAMES.get(t, t)) for t in (limit if isinstance(limit, list) else [limit])]
        return f"expected {' or '.join(names)}, got {_short(instance)}"
    if kind == "maxItems":
        return f"too many items ({len(instance)} > {limit})"
    if kind == "uniqueItems":
        return "contains duplicate items"
    if kind in ("minProperties", "minItems"):
        return "must not be empty"
    if kind in ("minimum", "maximum"):
        return f"{_short(instance)} is out of range"
    return f"invalid value {_short(instance)}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
