"""Template versions in the environment file: the current version's templates are what new servers clone, every
declared version's are allowed, ids map back to versions, and each mistake is named with file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.environment import load_environment
from components.spec import SpecErrors
from provisioning.status import template_labels

REPO = Path(__file__).resolve().parents[2]
V1 = {"pve1": 9000, "pve2": 9001, "pve3": 9002}
V2 = {"pve1": 9100, "pve2": 9101, "pve3": 9102}


def _env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change) -> Path:
    data = yaml.safe_load((REPO / "Pulumi.local.yaml").read_text())
    env: dict[str, Any] = data["config"]["dokploy-cloud:environment"]
    region = env["regions"]["pve-eu1"]
    del region["templates"]
    region["template_versions"] = {"2026.11": dict(V1), "2026.12": dict(V2)}
    env["template_version"] = "2026.12"
    change(env)
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump({"config": {k: v for k, v in data["config"].items() if "secure" not in v}}))
    monkeypatch.setenv("DOKPLOY_CLOUD_ENV_FILE", str(path))
    return path


def test_the_current_version_is_cloned_and_every_version_allowed(tmp_path, monkeypatch) -> None:
    _env_file(tmp_path, monkeypatch, lambda env: None)
    environment = load_environment(REPO, "local")
    region = environment.regions["pve-eu1"]
    assert dict(region.templates) == V2
    assert environment.template_version == "2026.12"
    assert set(V1.values()) | set(V2.values()) <= set(environment.allowed_templates)
    assert [region.template_version(i) for i in (9001, 9102, 9500, None)] == ["2026.11", "2026.12", None, None]
    labels, outdated = template_labels(environment, "pve-eu1", [9102, 9000, None])
    assert (labels, outdated) == (["2026.12", "2026.11 (outdated)", "-"], True)
    assert template_labels(environment, "pve-eu1", [9100]) == (["2026.12"], False)
    assert template_labels(environment, "pve-eu1", [9999]) == (["#9999 (outdated)"], True)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda env: env["regions"]["pve-eu1"].update(templates=V1), "exactly one of 'templates'"),
        (lambda env: env.update(template_version="2027.01"), "lacks the current version '2027.01'"),
        (lambda env: env["regions"]["pve-eu1"]["template_versions"]["2026.11"].pop("pve3"), "no template for nodes"),
        (lambda env: env["regions"]["pve-eu1"]["template_versions"]["2026.12"].update(pve1=9000), "is in versions"),
        (lambda env: env.pop("template_version"), "template_version is required"),
        (lambda env: env["regions"]["pve-eu1"]["template_versions"].update({"V 3": V2}), "template_versions"),
    ],
)
def test_each_mistake_is_named(tmp_path, monkeypatch, change, words) -> None:
    path = _env_file(tmp_path, monkeypatch, change)
    with pytest.raises(SpecErrors) as exc:
        load_environment(REPO, "local")
    assert str(path) in str(exc.value) and words in str(exc.value), str(exc.value)
