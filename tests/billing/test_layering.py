"""The Stripe domain (``billing/``) stands alone: only ``billing.adapter`` knows the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BILLING = Path(__file__).resolve().parents[2] / "billing"
DOMAIN = sorted(BILLING.glob("*.py"))


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


@pytest.mark.parametrize("path", DOMAIN, ids=[p.name for p in DOMAIN])
def test_domain_modules_import_neither_the_adapter_nor_the_service(path: Path) -> None:
    wiring = sorted(m for m in imported(path) if m.startswith(("billing.adapter", "service")))
    assert wiring == [], f"billing/{path.name} imports {wiring}: that belongs in billing/adapter/"
