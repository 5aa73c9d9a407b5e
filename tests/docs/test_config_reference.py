"""The generated configuration reference names every schema key and every service setting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from components.control_plane.declaration import CONTROL_PLANE_SCHEMA
from components.environment import ENVIRONMENT_SCHEMA
from components.spec.schema import PLANS_SCHEMA, TENANT_SCHEMA
from scripts.gen_config_reference import main, pages, schema_page, tenant_plans_page
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _property_names(node: Any) -> Iterator[str]:
    """Every key declared under any ``properties`` anywhere in a schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            yield from _property_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _property_names(item)


def _keys_in_page(page: str) -> set[str]:
    rows = [line.split("|")[1].strip().strip("`") for line in page.splitlines() if line.startswith("| `")]
    return {part for row in rows for part in row.replace("[]", "").split(".")}


def test_each_schema_page_lists_every_key() -> None:
    generated = pages()
    for rel, schema in (
        ("reference/plans.md", PLANS_SCHEMA),
        ("reference/environment.md", ENVIRONMENT_SCHEMA),
        ("reference/tenant.md", TENANT_SCHEMA),
        ("reference/control-plane.md", CONTROL_PLANE_SCHEMA),
    ):
        names = set(_property_names(schema))
        assert names, rel
        missing = names - _keys_in_page(generated[rel])
        assert not missing, f"{rel} misses {sorted(missing)}"


def test_a_key_added_to_a_schema_appears_in_its_page() -> None:
    schema = {
        "type": "object",
        "required": ["alpha"],
        "properties": {
            "alpha": {"type": "object", "additionalProperties": {"properties": {"beta": {"type": "integer"}}}},
            "gamma": {"type": "array", "items": {"properties": {"delta": {"enum": ["a", "b"]}}}},
        },
        "if": {},
        "then": {"properties": {"epsilon": {"type": "string", "x-allowed": "a | b"}}},
    }
    page = schema_page("T", "intro", schema)
    assert "| `alpha` | object | yes |" in page
    assert "| `alpha.*.beta` | integer |" in page
    assert "| `gamma[].delta` | enum |" in page
    assert "| `epsilon` | string |  | a \\| b |" in page


def test_settings_page_lists_every_variable_with_its_description() -> None:
    page = pages()["reference/service-settings.md"]
    for name, field in Settings.model_fields.items():
        var = field.validation_alias if isinstance(field.validation_alias, str) else name.upper()
        rows = [line for line in page.splitlines() if line.startswith(f"| `{var}` |")]
        assert len(rows) == 1, f"{var} is not listed once"
        assert rows[0].rstrip("| ").split("|")[-1].strip(), f"{var} has no description"
    assert str(ROOT) not in page, "the page must not show this machine's paths"


def test_tenant_plans_page_lists_the_production_plans(tmp_path: Path) -> None:
    plans = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]["dokploy-cloud:plans"]
    page = tenant_plans_page()
    for name, plan in plans.items():
        row = next(line for line in page.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {plan['cores']} |" in row and f"| {plan['disk_gb']} GB |" in row
    stack = tmp_path / "Pulumi.x.yaml"
    stack.write_text(
        yaml.safe_dump(
            {
                "config": {
                    "dokploy-cloud:plans": {"tiny": {"cores": 1, "memory_mb": 2048, "disk_gb": 10, "max_servers": 2}}
                }
            }
        )
    )
    assert "| tiny | vm | 1 | 2 GiB | 10 GB | 2 | none |" in tenant_plans_page(stack)


def test_cli_writes_the_pages(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.md")) == sorted(pages())
    assert main([]) == 2
