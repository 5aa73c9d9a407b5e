"""``cloudctl validate [DIR]``: tenant files checked against the environment (plans, quotas, regions); nothing runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import cloudctl
from tests.e2e.conftest import TENANT_FIXTURES


def test_valid_tenant_files_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tenants = tmp_path / "tenants"
    shutil.copytree(TENANT_FIXTURES, tenants)
    assert cloudctl.main(["--env", "local", "validate", str(tenants)]) == 0
    out = capsys.readouterr().out
    for slug in ("alpha", "bravo", "charlie"):
        assert f"{tenants / slug}.yaml: {slug} plan=" in out


def test_problems_name_file_line_and_field_and_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "delta.yaml").write_text(
        "slug: delta\ndisplay_name: Delta\nplan: starter\nregion: pve-eu1\n"
        "dokploy_organization: org_delta\nowner: a@delta.example\nservers: 9\n"
    )
    assert cloudctl.main(["--env", "local", "--tenants-dir", str(tmp_path), "validate"]) == 1
    out = capsys.readouterr().out
    assert "delta.yaml:7: field 'servers'" in out
