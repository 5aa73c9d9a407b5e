"""Loading tenant files: valid samples load, each kind of bad input names file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from components.spec import SpecErrors, load_tenant, load_tenants

REPO = Path(__file__).resolve().parents[2]

VALID = textwrap.dedent("""\
    slug: acme
    display_name: ACME
    plan: business
    region: pve-eu1
    dokploy_organization: org_1
    owner: ops@acme.example
    servers: 2
    """)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def only_error(exc: pytest.ExceptionInfo[SpecErrors]):
    assert len(exc.value.errors) == 1, str(exc.value)
    return exc.value.errors[0]


def test_sample_tenants_load_with_their_plans(plans):
    specs = load_tenants(REPO / "tenants", plans)
    assert sorted(specs) == ["acme", "globex", "initech"]
    assert len({s.plan for s in specs.values()}) == 3
    assert specs["globex"].host_label == "globex-prod"
    assert specs["initech"].servers == 1 and specs["initech"].extra_ssh_keys == ()


def test_valid_file_loads_fields(plans, tenants_dir):
    spec = load_tenant(write(tenants_dir, "acme.yaml", VALID), plans)
    assert (spec.slug, spec.plan, spec.servers, spec.hostname) == ("acme", "business", 2, None)


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("slug: acme", "slug: Acme_Corp", 1, "slug", ["DNS label"]),
        ("plan: business", "plan: platinum", 3, "plan", ["unknown plan 'platinum'", "business", "starter"]),
        ("servers: 2", "servers: 2\ncolour: red", 8, "colour", ["unknown field", "allowed fields", "slug"]),
        ("servers: 2", "servers: 5", 7, "servers", ["exceed plan 'business'", "1 to 3"]),
        ("servers: 2", "servers: 0", 7, "servers", ["out of range", "whole number"]),
        ("servers: 2", "servers: two", 7, "servers", ["expected a whole number"]),
        ("owner: ops@acme.example", "owner: not-an-email", 6, "owner", ["e-mail"]),
        ("owner: ops@acme.example\n", "", 1, "owner", ["missing required field"]),
        ("servers: 2", "servers: 2\nhostname: -bad", 8, "hostname", ["DNS label"]),
        ("region: pve-eu1", "region: [a, b]", 4, "region", ["expected a string"]),
        ("servers: 2", "servers: 2\nservers: 3", 8, "servers", ["duplicate key"]),
    ],
)
def test_invalid_field_names_file_line_field(plans, tenants_dir, old, new, line, field, words):
    path = write(tenants_dir, "acme.yaml", VALID.replace(old, new))
    with pytest.raises(SpecErrors) as exc:
        load_tenant(path, plans)
    err = only_error(exc)
    assert (err.source, err.line, err.field) == (str(path), line, field)
    text = str(exc.value)
    assert f"{path}:{line}: field '{field}'" in text
    for word in words:
        assert word in text


def test_slug_must_equal_file_name(plans, tenants_dir):
    path = write(tenants_dir, "globex.yaml", VALID)
    with pytest.raises(SpecErrors) as exc:
        load_tenant(path, plans)
    err = only_error(exc)
    assert (err.line, err.field) == (1, "slug") and "file name 'globex'" in err.message


def test_bad_ssh_key_names_list_item_line(plans, tenants_dir):
    text = VALID + "extra_ssh_keys:\n  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDMWrp/sbfSJTo0J\n"
    path = write(tenants_dir, "acme.yaml", text)
    with pytest.raises(SpecErrors) as exc:
        load_tenant(path, plans)
    err = only_error(exc)
    assert (err.line, err.field) == (9, "extra_ssh_keys[0]")
    assert "invalid SSH public key" in err.message


def test_unsupported_ssh_key_type_lists_allowed_types(plans, tenants_dir):
    text = VALID + "extra_ssh_keys: ['ssh-dss AAAAB3NzaC1kc3MAAACBAP']\n"
    with pytest.raises(SpecErrors) as exc:
        load_tenant(write(tenants_dir, "acme.yaml", text), plans)
    err = only_error(exc)
    assert err.field == "extra_ssh_keys[0]" and "ssh-ed25519" in err.message


def test_malformed_yaml_reports_line(plans, tenants_dir):
    path = write(tenants_dir, "acme.yaml", VALID.replace("region: pve-eu1", "region: [pve-eu1"))
    with pytest.raises(SpecErrors) as exc:
        load_tenant(path, plans)
    err = only_error(exc)
    assert err.field == "(document)" and "malformed YAML" in err.message
    assert err.line is not None and 4 <= err.line <= 6


def test_non_mapping_document_is_rejected(plans, tenants_dir):
    with pytest.raises(SpecErrors) as exc:
        load_tenant(write(tenants_dir, "acme.yaml", "- slug: acme\n"), plans)
    assert "expected a mapping" in only_error(exc).message


def test_empty_file_is_rejected(plans, tenants_dir):
    with pytest.raises(SpecErrors) as exc:
        load_tenant(write(tenants_dir, "acme.yaml", "# nothing\n"), plans)
    assert "empty" in only_error(exc).message


def test_duplicate_slug_across_files(plans, tenants_dir):
    write(tenants_dir, "acme.yaml", VALID)
    dup = write(tenants_dir, "acme.yml", VALID)
    with pytest.raises(SpecErrors) as exc:
        load_tenants(tenants_dir, plans)
    err = only_error(exc)
    assert (err.source, err.line, err.field) == (str(dup), 1, "slug")
    assert "duplicate slug 'acme'" in err.message and "acme.yaml" in err.message


def test_duplicate_host_name_across_files(plans, tenants_dir):
    write(tenants_dir, "acme.yaml", VALID)
    other = VALID.replace("slug: acme", "slug: beta") + "hostname: acme\n"
    path = write(tenants_dir, "beta.yaml", other)
    with pytest.raises(SpecErrors) as exc:
        load_tenants(tenants_dir, plans)
    err = only_error(exc)
    assert (err.source, err.line, err.field) == (str(path), 8, "hostname")


def test_all_errors_of_all_files_reported_at_once(plans, tenants_dir):
    write(tenants_dir, "acme.yaml", VALID.replace("plan: business", "plan: gold") + "x: 1\n")
    write(tenants_dir, "beta.yaml", "slug: [\n")
    write(tenants_dir, "gamma.yaml", VALID.replace("slug: acme", "slug: gamma"))
    with pytest.raises(SpecErrors) as exc:
        load_tenants(tenants_dir, plans)
    located = {(Path(e.source).name, e.field) for e in exc.value.errors}
    assert located == {("acme.yaml", "plan"), ("acme.yaml", "x"), ("beta.yaml", "(document)")}


def test_unknown_region_when_regions_given(plans, tenants_dir):
    with pytest.raises(SpecErrors) as exc:
        load_tenant(write(tenants_dir, "acme.yaml", VALID), plans, regions=["pve-us1"])
    err = only_error(exc)
    assert (err.line, err.field) == (4, "region") and "pve-us1" in err.message


def test_missing_tenants_directory_is_named(plans, tmp_path):
    with pytest.raises(SpecErrors, match="not a directory of tenant files") as exc:
        load_tenants(tmp_path / "nope", plans)
    assert exc.value.errors[0].source == str(tmp_path / "nope")


@pytest.mark.parametrize("slug", ["templates", "control-plane"])
def test_a_platform_stack_name_is_no_tenant_slug(plans, tenants_dir, slug):
    text = VALID.replace("slug: acme", f"slug: {slug}")
    with pytest.raises(SpecErrors) as exc:
        load_tenant(write(tenants_dir, f"{slug}.yaml", text), plans)
    error = only_error(exc)
    assert (error.line, error.field) == (1, "slug")
    assert "reserved for the platform" in error.message


def test_platform_stacks_are_told_from_tenant_stacks():
    from components.naming import platform_stack

    assert [platform_stack(s) for s in ("prod.templates", "local.control-plane", "prod.acme", "prod")] == [
        "templates",
        "control-plane",
        None,
        None,
    ]
