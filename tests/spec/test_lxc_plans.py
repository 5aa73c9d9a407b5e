"""``kind: lxc`` plans and the regions' ``lxc_template``: parsed, defaulted, and refused with the field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.environment import ENV_FILE_VAR, load_environment
from components.spec import SpecErrors, parse_plans, parse_tenant

REPO = Path(__file__).resolve().parents[2]
BASE = {"cores": 2, "memory_mb": 2048, "disk_gb": 20, "max_servers": 2}


def test_kind_defaults_to_vm_and_round_trips():
    plans = parse_plans({"small": BASE, "box": {**BASE, "kind": "lxc"}})
    assert (plans["small"].kind, plans["small"].is_lxc) == ("vm", False)
    assert (plans["box"].kind, plans["box"].is_lxc) == ("lxc", True)
    assert "kind" not in plans["small"].to_config()
    assert parse_plans({"box": plans["box"].to_config()})["box"] == plans["box"]


def test_unknown_kind_names_the_field():
    with pytest.raises(SpecErrors) as exc:
        parse_plans({"box": {**BASE, "kind": "docker"}})
    text = str(exc.value)
    assert "box.kind" in text and "'lxc'" in text


def _write_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Any) -> None:
    data = yaml.safe_load((REPO / "Pulumi.local.yaml").read_text(encoding="utf-8"))
    edit(data["config"])
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv(ENV_FILE_VAR, str(path))


def _add_lxc_plan(config: dict[str, Any]) -> None:
    config["dokploy-cloud:plans"]["box"] = {**BASE, "kind": "lxc"}


IMAGE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"


def test_local_environment_offers_a_container_plan_and_names_the_image():
    env = load_environment(REPO, "local")
    assert env.plans["container"].is_lxc
    assert {r.lxc_template for r in env.regions.values()} == {IMAGE}


def test_lxc_plan_without_an_image_is_refused_naming_the_region(tmp_path, monkeypatch):
    def edit(config: dict[str, Any]) -> None:
        _add_lxc_plan(config)
        del config["dokploy-cloud:environment"]["regions"]["pve-us1"]["lxc_template"]

    _write_env(tmp_path, monkeypatch, edit)
    with pytest.raises(SpecErrors) as exc:
        load_environment(REPO, "local")
    text = str(exc.value)
    assert "pve-us1" in text and "lxc_template is required" in text and "box" in text


def test_lxc_template_must_be_a_vztmpl_volume(tmp_path, monkeypatch):
    def edit(config: dict[str, Any]) -> None:
        config["dokploy-cloud:environment"]["regions"]["pve-eu1"]["lxc_template"] = "8000"

    _write_env(tmp_path, monkeypatch, edit)
    with pytest.raises(SpecErrors) as exc:
        load_environment(REPO, "local")
    assert "lxc_template" in str(exc.value)


def test_without_lxc_plans_the_image_is_optional(tmp_path, monkeypatch):
    def edit(config: dict[str, Any]) -> None:
        del config["dokploy-cloud:plans"]["container"]
        for region in config["dokploy-cloud:environment"]["regions"].values():
            region.pop("lxc_template", None)

    _write_env(tmp_path, monkeypatch, edit)
    env = load_environment(REPO, "local")
    assert all(r.lxc_template is None for r in env.regions.values())


def test_warm_pool_cannot_be_sized_for_an_lxc_plan(tmp_path, monkeypatch):
    def edit(config: dict[str, Any]) -> None:
        _add_lxc_plan(config)
        config["dokploy-cloud:environment"]["regions"]["pve-eu1"]["warm_pool"] = {"size": 1, "plan": "box"}

    _write_env(tmp_path, monkeypatch, edit)
    with pytest.raises(SpecErrors) as exc:
        load_environment(REPO, "local")
    assert "warm pools hold VMs" in str(exc.value)


def test_tenant_on_an_lxc_plan_is_accepted():
    plans = parse_plans({"small": BASE, "box": {**BASE, "kind": "lxc"}})
    text = "slug: acme\ndisplay_name: ACME\nplan: box\nregion: pve-eu1\ndokploy_organization: o1\nowner: a@b.example\n"
    assert parse_tenant(text, "acme.yaml", plans).plan == "box"
