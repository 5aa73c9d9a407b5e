"""Render the configuration reference (plans, environment file, tenant file, service settings) from the schemas.

The pages are generated at docs build time (``scripts/mkdocs_hooks.py``) so they cannot drift from the code.
Run ``python -m scripts.gen_config_reference OUT_DIR`` to write them to a directory instead.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from components.control_plane.declaration import CONTROL_PLANE_SCHEMA
from components.environment import ENVIRONMENT_SCHEMA
from components.spec.schema import PLANS_SCHEMA, TENANT_SCHEMA
from provisioning.toolchain import PROJECT_DIR
from service.settings import Settings

_COMBINERS = ("allOf", "anyOf", "oneOf", "then", "else")
_CONSTRAINTS = (
    "enum",
    "const",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "default",
)


def schema_rows(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any], bool]]:
    """Yield ``(key path, subschema, required)`` for every property a schema declares, depth first.

    ``*`` stands for a key of a free-form mapping (``additionalProperties``), ``[]`` for a list item.
    """
    required = set(schema.get("required", ()))
    for name, sub in schema.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        yield key, sub, name in required
        yield from schema_rows(sub, key)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        key = f"{path}.*" if path else "*"
        yield key, extra, False
        yield from schema_rows(extra, key)
    items = schema.get("items")
    if isinstance(items, dict) and (items.get("properties") or items.get("additionalProperties")):
        yield from schema_rows(items, f"{path}[]")
    for combiner in _COMBINERS:
        parts = schema.get(combiner)
        for part in parts if isinstance(parts, list) else [parts] if isinstance(parts, dict) else []:
            yield from schema_rows(part, path)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _type(sub: dict[str, Any]) -> str:
    kind = sub.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind:
        return str(kind)
    return "enum" if "enum" in sub else "—"


def _code(text: str) -> str:
    """A code span that survives backticks in ``text`` (patterns may hold one)."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _accepts(sub: dict[str, Any]) -> str:
    parts = [_cell(sub["x-allowed"])] if "x-allowed" in sub else []
    parts += [f"{k}: {_code(v if isinstance(v := sub[k], str) else json.dumps(v))}" for k in _CONSTRAINTS if k in sub]
    if isinstance(sub.get("items"), dict) and "x-allowed" not in sub:
        parts.append(f"items: {_type(sub['items'])}")
    return "; ".join(parts)


def schema_page(title: str, intro: str, schema: dict[str, Any]) -> str:
    """A Markdown page with one table row per key of ``schema``."""
    lines = [f"# {title}", "", intro, "", "| Key | Type | Required | Accepts |", "| --- | --- | --- | --- |"]
    seen: set[str] = set()
    for key, sub, required in schema_rows(schema):
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"| `{key}` | {_type(sub)} | {'yes' if required else ''} | {_accepts(sub)} |")
    return "\n".join(lines) + "\n"


def settings_docs() -> dict[str, str]:
    """The attribute docstrings of :class:`service.settings.Settings`, by field name."""
    tree = ast.parse(inspect.getsource(Settings))
    cls = tree.body[0]
    if not isinstance(cls, ast.ClassDef):
        raise TypeError("service.settings.Settings is not a class definition")
    body = cls.body
    docs: dict[str, str] = {}
    for field, doc in itertools.pairwise(body):
        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name):
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
                docs[field.target.id] = " ".join(doc.value.value.split())
    return docs


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    text = str(value)
    root = str(PROJECT_DIR)
    return f"`{text.replace(root, '<project>')}`" if text != "" else "empty"


def settings_page() -> str:
    """A Markdown page with one row per service setting: environment variable, default, description."""
    docs = settings_docs()
    lines = [
        "# Service settings",
        "",
        "The provisioning service (`python -m service`) reads these environment variables once at start-up "
        "(`service/settings.py`). Secrets are never shown in logs or errors; a bad value stops the service with a "
        "message naming the variable.",
        "",
        "| Variable | Default | Description |",
        "| --- | --- | --- |",
    ]
    for name, field in Settings.model_fields.items():
        var = field.validation_alias if isinstance(field.validation_alias, str) else name.upper()
        doc = docs.get(name, "")
        doc = doc.split(":", 1)[1].strip() if doc.startswith(f"{var}:") else doc
        lines.append(f"| `{var}` | {_default(field.default)} | {_cell(doc)} |")
    return "\n".join(lines) + "\n"


def _backups(policy: Any) -> str:
    if not policy:
        return "none"
    keep = ", ".join(f"{n} {k}" for k, n in policy.get("keep", {}).items())
    return f"at {policy.get('schedule', '?')} (schedule), keeping {keep}" if keep else "yes"


def tenant_plans_page(stack_file: Path = PROJECT_DIR / "Pulumi.prod.yaml") -> str:
    """The plans tenants can buy, from the production stack file's ``dokploy-cloud:plans``."""
    plans = (yaml.safe_load(stack_file.read_text()) or {}).get("config", {}).get("dokploy-cloud:plans", {})
    lines = [
        "# Plans",
        "",
        "What each plan includes per server (generated from the production plans, so it is always current).",
        "",
        "| Plan | Kind | vCPUs | Memory | Disk | Servers (max) | Backups | For |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, plan in plans.items():
        lines.append(
            f"| {name} | {plan.get('kind', 'vm')} | {plan['cores']} | {plan['memory_mb'] // 1024} GiB "
            f"| {plan['disk_gb']} GB | {plan['max_servers']} | {_cell(_backups(plan.get('backups')))} "
            f"| {_cell(str(plan.get('description', '')))} |"
        )
    return "\n".join(lines) + "\n"


def pages() -> dict[str, str]:
    """Every generated page, by its path under ``docs/``."""
    return {
        "reference/plans.md": schema_page(
            "Plans",
            "The plans of an environment: the `dokploy-cloud:plans` key of `Pulumi.<env>.yaml`, a mapping from plan "
            "name to the plan below (`components/spec/schema.py`, `PLANS_SCHEMA`). `*` is the plan's name.",
            PLANS_SCHEMA,
        ),
        "reference/environment.md": schema_page(
            "Environment file",
            "The `dokploy-cloud:environment` key of `Pulumi.<env>.yaml` (`components/environment.py`, "
            "`ENVIRONMENT_SCHEMA`). `*` stands for a name you choose (a region, a node), `[]` for a list item.",
            ENVIRONMENT_SCHEMA,
        ),
        "reference/tenant.md": schema_page(
            "Tenant file",
            "One file per tenant, `tenants/<slug>.yaml` (`components/spec/schema.py`, `TENANT_SCHEMA`). "
            "`cloudctl validate` checks a directory of them against the environment and changes nothing.",
            TENANT_SCHEMA,
        ),
        "reference/control-plane.md": schema_page(
            "Control plane",
            "The `dokploy-cloud:controlPlane` key of `Pulumi.<env>.yaml`, built by the `<env>.control-plane` stack "
            "(`components/control_plane/declaration.py`, `CONTROL_PLANE_SCHEMA`; see "
            "[the control plane](../platform/control-plane.md)).",
            CONTROL_PLANE_SCHEMA,
        ),
        "reference/service-settings.md": settings_page(),
        "tenants/plans.md": tenant_plans_page(),
    }


def main(argv: list[str]) -> int:
    """Write the pages under the directory given as the only argument."""
    if len(argv) != 1:
        print("usage: python -m scripts.gen_config_reference OUT_DIR", file=sys.stderr)
        return 2
    for rel, text in pages().items():
        out = Path(argv[0]) / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
