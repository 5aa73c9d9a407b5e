"""Input validation for the Dokploy simulator, derived from Dokploy's own OpenAPI document.

Every procedure's input schema comes from ``openapi_subset.json`` (the served paths of
``dokploy-openapi.json``, extracted verbatim). One generic walker turns a JSON-schema
mismatch into the zod v4 issue Dokploy would report, strips unknown keys and applies
defaults. The few checks zod performs that the document cannot express (custom key-format
refinements, custom messages, which schemas escape the adapter's top-level coercion) are
data tables below, not per-endpoint code.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

SUBSET_PATH = Path(__file__).with_name("openapi_subset.json")

# Schemas built with drizzle-zod `.required()` wrap fields, so the adapter's coercion does not apply (§1.2).
NO_COERCION = frozenset({"server.create", "server.update"})

_PUBLIC_KEY = re.compile(r"^(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?\s*$")
_PRIVATE_KEY = re.compile(
    r"^-----BEGIN (OPENSSH|RSA) PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END \1 PRIVATE KEY-----\n?$"
)
# zod `.refine(...)` checks: procedure -> [(field, regex, message)].
REFINEMENTS: dict[str, list[tuple[str, re.Pattern[str], str]]] = {
    "sshKey.create": [
        ("publicKey", _PUBLIC_KEY, "Invalid public key format"),
        ("privateKey", _PRIVATE_KEY, "Invalid private key format"),
    ],
}
# Custom zod messages: (procedure, field, issue code) -> message.
CUSTOM_MESSAGES: dict[tuple[str, str, str], str] = {
    ("user.createApiKey", "name", "too_small"): "Name is required",
    ("user.createApiKey", "name", "too_big"): "Name must be at most 32 characters",
}


def load_procedures(path: Path = SUBSET_PATH) -> dict[str, dict[str, Any]]:
    """Procedure name -> {"method", "body"?, "query"?} as in the OpenAPI document."""
    return dict(json.loads(path.read_text())["procedures"])


def input_schema(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema of a procedure's input (query parameters folded into one object)."""
    if "body" in spec:
        return dict(spec["body"])
    if "query" in spec:
        props = {p["name"]: p["schema"] for p in spec["query"]}
        required = [p["name"] for p in spec["query"] if p.get("required")]
        return {"type": "object", "properties": props, "required": required}
    return None


def js_type(value: Any) -> str:
    """The type name zod v4 reports for ``received``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "NaN" if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_MISSING = object()


def _type_issue(expected: str, value: Any, path: list[Any]) -> dict[str, Any]:
    received = "undefined" if value is _MISSING else js_type(value)
    return {
        "expected": expected,
        "code": "invalid_type",
        "path": path,
        "message": f"Invalid input: expected {expected}, received {received}",
    }


def _nullable_inner(schema: dict[str, Any]) -> dict[str, Any] | None:
    variants = schema.get("anyOf", [])
    if len(variants) == 2 and {"type": "null"} in variants:
        return next(v for v in variants if v != {"type": "null"})
    return None


def _check(schema: dict[str, Any], value: Any, path: list[Any], issues: list[dict[str, Any]]) -> Any:
    """Validate one value; append issues; return the parsed (stripped, defaulted) value."""
    inner = _nullable_inner(schema)
    if inner is not None:
        return None if value is None else _check(inner, value, path, issues)
    kind = schema.get("type")
    if kind == "object":
        return _check_object(schema, value, path, issues)
    if kind == "number":
        ok = js_type(value) == "number"
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "array":
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, str)
    if not ok:
        issues.append(_type_issue(kind or "string", value, path))
        return value
    if "enum" in schema and value not in schema["enum"]:
        options = "|".join(json.dumps(v) for v in schema["enum"])
        issues.append(
            {
                "code": "invalid_value",
                "values": schema["enum"],
                "path": path,
                "message": f"Invalid option: expected one of {options}",
            }
        )
    elif kind == "string":
        _check_length(schema, value, path, issues)
    return value


def _check_length(schema: dict[str, Any], value: str, path: list[Any], issues: list[dict[str, Any]]) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        n = schema["minLength"]
        issues.append(
            {
                "origin": "string",
                "code": "too_small",
                "minimum": n,
                "inclusive": True,
                "path": path,
                "message": f"Too small: expected string to have >={n} characters",
            }
        )
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        n = schema["maxLength"]
        issues.append(
            {
                "origin": "string",
                "code": "too_big",
                "maximum": n,
                "inclusive": True,
                "path": path,
                "message": f"Too big: expected string to have <={n} characters",
            }
        )


def _check_object(schema: dict[str, Any], value: Any, path: list[Any], issues: list[dict[str, Any]]) -> Any:
    if not isinstance(value, dict):
        issues.append(_type_issue("object", value, path))
        return value
    required = set(schema.get("required", []))
    parsed: dict[str, Any] = {}
    for name, sub in schema.get("properties", {}).items():
        if name not in value:
            if name in required:
                expected = "nonoptional" if _nullable_inner(sub) is not None else sub.get("type", "string")
                issues.append(_type_issue(expected, _MISSING, [*path, name]))
            elif "default" in sub:
                parsed[name] = sub["default"]
            continue
        parsed[name] = _check(sub, value[name], [*path, name], issues)
    return parsed  # unknown keys are stripped, as zod does


def _coerce(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The adapter's top-level z.coerce for number/boolean fields (JS Number()/Boolean() semantics)."""
    out = dict(data)
    for name, sub in schema.get("properties", {}).items():
        if name not in out:
            continue
        value = out[name]
        if sub.get("type") == "boolean" and not isinstance(value, bool):
            out[name] = value not in (None, "", 0) and not (isinstance(value, float) and math.isnan(value))
        elif sub.get("type") == "number" and js_type(value) != "number":
            out[name] = _js_number(value)
    return out


def _js_number(value: Any) -> float | int:
    if value is None or isinstance(value, bool):
        return int(bool(value))
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return 0
        try:
            num = float(text)
        except ValueError:
            return math.nan
        return int(num) if num.is_integer() and "." not in text and "e" not in text.lower() else num
    return math.nan


def zod_error(issues: list[dict[str, Any]]) -> dict[str, Any]:
    """zod's flatten(): form errors (empty path) and field errors keyed by the first path element."""
    form: list[str] = []
    fields: dict[str, list[str]] = {}
    for issue in issues:
        if issue["path"]:
            fields.setdefault(str(issue["path"][0]), []).append(issue["message"])
        else:
            form.append(issue["message"])
    return {"formErrors": form, "fieldErrors": fields}


def validate_input(procedure: str, spec: dict[str, Any], raw: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Parse a procedure's raw input; return (parsed input, zod issues)."""
    schema = input_schema(spec)
    if schema is None:
        return None, []  # procedures without input ignore any query/body
    if raw is None:
        raw = {}  # empty body / no query: every required field then reports "received undefined"
    if isinstance(raw, dict) and procedure not in NO_COERCION:
        raw = _coerce(schema, raw)
    issues: list[dict[str, Any]] = []
    parsed = _check(schema, raw, [], issues)
    for issue in issues:
        key = (procedure, str(issue["path"][0]) if issue["path"] else "", issue["code"])
        if key in CUSTOM_MESSAGES:
            issue["message"] = CUSTOM_MESSAGES[key]
    if not issues:
        for field, pattern, message in REFINEMENTS.get(procedure, []):
            if not pattern.match(parsed.get(field, "")):
                issues.append({"code": "custom", "path": [field], "message": message})
    return parsed, issues
