"""The dashboards in the repository are exactly what their builder makes, and well-formed for Grafana."""

from __future__ import annotations

import json

from monitoring.dashboards.build import HERE, rendered


def test_committed_dashboards_match_the_builder() -> None:
    for name, text in rendered().items():
        assert (HERE / name).read_text() == text, f"{name} is stale: run python -m monitoring.dashboards.build"
    assert sorted(p.name for p in HERE.glob("*.json")) == sorted(rendered())


def test_every_panel_has_a_query_and_a_place() -> None:
    for name in rendered():
        board = json.loads((HERE / name).read_text())
        assert board["uid"] and board["title"].startswith("Dokploy Cloud")
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) >= 6, name
        for p in board["panels"]:
            assert p["targets"][0]["expr"].strip(), (name, p["title"])
            grid = p["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, (name, p["title"])
