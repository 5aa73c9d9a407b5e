"""The validation CLI: exit 0 on the samples, 1 with located errors otherwise."""

from __future__ import annotations

from pathlib import Path

from components.spec.__main__ import main

REPO = Path(__file__).resolve().parents[2]


def test_cli_accepts_samples(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main([str(REPO / "tenants")]) == 0
    assert capsys.readouterr().out.count("ok ") == 3


def test_cli_reports_every_error_located(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "acme.yaml").write_text("slug: acme\nplan: gold\n")
    assert main([str(tmp_path), "--env", "local"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert (
        f"{tmp_path / 'acme.yaml'}:2: field 'plan': unknown plan 'gold'; allowed: business, container, enterprise, starter"
        in lines
    )
    assert sum("missing required field" in line for line in lines) == 4
