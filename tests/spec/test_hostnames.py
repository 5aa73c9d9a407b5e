"""One namespace of host names: per-tenant subdomains cannot collide; numbered names of older tenants are kept and reserved."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.spec import SpecErrors, dump_tenant, load_tenants, parse_tenant
from components.spec.hostnames import server_labels
from policies.request import check_in_environment
from tests.support.tenant_files import tenant_yaml as tenant

REPO = Path(__file__).resolve().parents[2]


def test_server_names_per_scheme() -> None:
    assert server_labels("acme", 3) == ["acme", "2.acme", "3.acme"]
    assert server_labels("acme", 3, "numbered") == ["acme", "acme-2", "acme-3"]


def test_new_tenants_cannot_take_each_others_names(plans, tenants_dir: Path) -> None:
    (tenants_dir / "acme.yaml").write_text(tenant("acme", 2))
    (tenants_dir / "acme-2.yaml").write_text(tenant("acme-2", 2))
    specs = load_tenants(tenants_dir, plans)
    names = {slug: server_labels(s.host_label, s.servers, s.hostname_scheme) for slug, s in specs.items()}
    assert names == {"acme": ["acme", "2.acme"], "acme-2": ["acme-2", "2.acme-2"]}


def test_a_slug_equal_to_an_older_tenants_numbered_name_is_refused(plans, tenants_dir: Path) -> None:
    (tenants_dir / "acme.yaml").write_text(tenant("acme", 2, "hostname_scheme: numbered\n"))
    squatter = tenants_dir / "acme-2.yaml"
    squatter.write_text(tenant("acme-2"))
    with pytest.raises(SpecErrors) as caught:
        load_tenants(tenants_dir, plans)
    [error] = caught.value.errors
    assert "host name 'acme-2' already used by" in error.message
    assert {Path(error.source).name, Path(error.message.split(" already used by ")[1].split(";")[0]).name} == {
        "acme.yaml",
        "acme-2.yaml",
    }


def test_growing_a_numbered_tenant_onto_another_tenants_name_is_refused(plans, tenants_dir: Path) -> None:
    (tenants_dir / "acme-3.yaml").write_text(tenant("acme-3"))
    (tenants_dir / "acme.yaml").write_text(tenant("acme", 3, "hostname_scheme: numbered\n"))
    with pytest.raises(SpecErrors) as caught:
        load_tenants(tenants_dir, plans)
    [error] = caught.value.errors
    assert error.field == "servers" and "'acme-3'" in error.message


def test_existing_tenants_keep_their_names(plans) -> None:
    specs = load_tenants(REPO / "tenants", plans)
    acme, globex = specs["acme"], specs["globex"]
    assert server_labels(acme.host_label, acme.servers, acme.hostname_scheme) == ["acme", "acme-2"]
    assert server_labels(globex.host_label, globex.servers, globex.hostname_scheme) == [
        "globex-prod",
        "globex-prod-2",
        "globex-prod-3",
        "globex-prod-4",
    ]


def test_the_scheme_round_trips_and_is_explicit_for_several_servers(plans) -> None:
    spec = parse_tenant(tenant("acme", 2), "t", plans)
    assert "hostname_scheme: subdomain" in dump_tenant(spec)
    assert "hostname_scheme" not in dump_tenant(parse_tenant(tenant("solo"), "t", plans))
    numbered = parse_tenant(tenant("acme", 2, "hostname_scheme: numbered\n"), "t", plans)
    assert parse_tenant(dump_tenant(numbered), "t", plans) == numbered


def test_door_policy_checks_the_names_the_program_builds() -> None:
    from components.environment import load_environment

    env = load_environment(REPO, "local")
    assert check_in_environment(env, tenant="acme", plan_name="business", servers=2) == []
