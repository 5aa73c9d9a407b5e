"""The real engine end to end: up, no-change preview, refresh, destroy on a file:// backend."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.engine.pulumi_cli import PulumiCli

pytestmark = pytest.mark.engine


def test_up_creates_dynamic_and_random_resources(smoke_stack: PulumiCli) -> None:
    smoke_stack.run("up", "--yes", "--skip-preview")
    outputs = smoke_stack.outputs()
    assert re.fullmatch(r"[a-z0-9]{8}", outputs["suffix"])
    marker = Path(outputs["markerPath"])
    assert marker.read_text() == f"hello-{outputs['suffix']}"
    types = smoke_stack.resource_types()
    assert "random:index/randomString:RandomString" in types
    assert "pulumi-python:dynamic/smoke:MarkerFile" in types


def test_second_preview_reports_no_changes_and_refresh_no_drift(smoke_stack: PulumiCli) -> None:
    smoke_stack.run("up", "--yes", "--skip-preview")
    preview = smoke_stack.run("preview", "--expect-no-changes", "--diff")
    assert "to create" not in preview.stdout and "to update" not in preview.stdout
    refresh = smoke_stack.run("refresh", "--yes", "--expect-no-changes")
    assert refresh.returncode == 0


def test_refresh_detects_out_of_band_delete(smoke_stack: PulumiCli) -> None:
    smoke_stack.run("up", "--yes", "--skip-preview")
    Path(smoke_stack.outputs()["markerPath"]).unlink()
    refresh = smoke_stack.run("refresh", "--yes", "--expect-no-changes", check=False)
    assert refresh.returncode != 0, "refresh should report the deleted marker as drift"
    smoke_stack.run("up", "--yes", "--skip-preview")
    assert Path(smoke_stack.outputs()["markerPath"]).exists()


def test_destroy_removes_everything(smoke_stack: PulumiCli) -> None:
    smoke_stack.run("up", "--yes", "--skip-preview")
    marker = Path(smoke_stack.outputs()["markerPath"])
    smoke_stack.run("destroy", "--yes", "--skip-preview")
    assert not marker.exists()
    assert smoke_stack.state()["deployment"].get("resources", []) == []
