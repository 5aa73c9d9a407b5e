"""The documentation site builds in strict mode, and every alert's runbook_url resolves to a page naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "monitoring" / "rules" / "dokploy-cloud.rules.yml"
MKDOCS = Path(sys.executable).with_name("mkdocs")


def _site_url() -> str:
    # mkdocs.yml holds a !!python/name tag (the mermaid fence), which safe_load refuses: read only site_url.
    for line in (ROOT / "mkdocs.yml").read_text().splitlines():
        if line.startswith("site_url:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("mkdocs.yml has no site_url")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once into a temp dir; any warning fails the build (strict) and this fixture."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{log}"
    assert "WARNING" not in log, f"mkdocs build warned:\n{log}"
    return out


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"] if "alert" in rule]


def test_site_builds_strict_with_generated_reference(site: Path) -> None:
    for page in ("reference/plans", "reference/environment", "reference/tenant", "reference/service-settings"):
        html = (site / page / "index.html").read_text()
        assert "<table>" in html, f"{page} has no table"
    assert (site / "runbooks" / "index.html").is_file()
    assert 'class="mermaid"' in (site / "architecture" / "index.html").read_text()


def test_every_alert_links_to_a_built_runbook_that_names_it(site: Path) -> None:
    base = _site_url()
    alerts = _alerts()
    assert alerts, "no alert rules found"
    for rule in alerts:
        name = rule["alert"]
        url = rule.get("annotations", {}).get("runbook_url")
        assert url, f"{RULES.name}: alert {name} has no runbook_url annotation"
        assert str(url).startswith(base), f"alert {name}: runbook_url {url} is not under site_url {base}"
        path = str(url)[len(base) :].split("#", 1)[0]
        page = site / path / "index.html"
        assert page.is_file(), f"alert {name}: runbook_url {url} resolves to no built page ({page})"
        assert str(name) in page.read_text(), f"alert {name}: its runbook {path} does not name it"
