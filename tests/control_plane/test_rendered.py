"""The control plane's rendered files: kept in the repo up to date, valid for cloud-init, the Compose
Specification and systemd, carrying no secret; and each validator rejects a broken document."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.control_plane.__main__ import ENVIRONMENTS, RENDERED_DIR, write_rendered
from components.control_plane.render import SECRETS_FILE, UNIT_NAME
from components.control_plane.validate import cloud_init_errors, compose_errors, systemd_errors


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_rendered_files_in_the_repo_are_current(env_name: str, tmp_path: Path) -> None:
    fresh = {path.name: path.read_text(encoding="utf-8") for path in write_rendered(env_name, tmp_path)}
    kept = {path.name: path.read_text(encoding="utf-8") for path in (RENDERED_DIR / env_name).iterdir()}
    assert kept == fresh, "stale: run `.venv/bin/python -m components.control_plane render`"


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cloud_init_accepts_the_user_data(env_name: str) -> None:
    assert cloud_init_errors(RENDERED_DIR / env_name / "cloud-init.yaml") == []


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_compose_file_follows_the_compose_specification(env_name: str) -> None:
    document = yaml.safe_load((RENDERED_DIR / env_name / "compose.yaml").read_text(encoding="utf-8"))
    assert compose_errors(document) == []
    services = document["services"]
    assert {"dokploy", "deployments-worker", "postgres", "redis", "traefik", "vector", "node-exporter"} <= set(services)
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
    for name in ("dokploy", "deployments-worker", "postgres", "redis", "traefik"):
        assert services[name]["healthcheck"]["test"], name
    assert services["dokploy"]["environment"]["IS_CLOUD"] == "true"
    assert services["deployments-worker"]["command"] != services["dokploy"].get("command")
    assert ("mailpit" in services) == (env_name == "local")


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_systemd_verifies_the_unit(env_name: str) -> None:
    assert systemd_errors(UNIT_NAME, (RENDERED_DIR / env_name / UNIT_NAME).read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_no_secret_is_rendered(env_name: str) -> None:
    """Secrets reach the services only through the root-only secrets file written from Vault."""
    compose = yaml.safe_load((RENDERED_DIR / env_name / "compose.yaml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        for key in service.get("environment", {}):
            assert not any(word in key for word in ("PASSWORD", "SECRET", "TOKEN", "DATABASE_URL")), (name, key)
        if name in ("dokploy", "deployments-worker", "postgres"):
            assert service["env_file"] == [SECRETS_FILE]
    text = "".join(p.read_text(encoding="utf-8") for p in (RENDERED_DIR / env_name).iterdir())
    assert "PASSWORD=" not in text and "SECRET=" not in text and "postgres://" not in text


def test_cloud_init_rejects_a_broken_document(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("#cloud-config\nruncmd: 5\n", encoding="utf-8")
    assert any("runcmd" in line for line in cloud_init_errors(broken))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda s: s["redis"].update(portz=["1:1"]), "portz"),
        (lambda s: s["redis"].update(restart="sometimes"), "restart"),
        (lambda s: s["redis"].update(healthcheck={"test": ["CMD", "true"], "interval": 5}), "interval"),
    ],
)
def test_the_compose_check_rejects_a_broken_file(change, words: str) -> None:
    document = yaml.safe_load((RENDERED_DIR / "local" / "compose.yaml").read_text(encoding="utf-8"))
    change(document["services"])
    errors = compose_errors(document)
    assert errors and any(words in error for error in errors), errors


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("Restart=on-failure", "Restart=sometimes", "restart specifier"),
        ("ExecStart=/usr/bin/docker", "ExecStart=/usr/bin/dockr", "not executable"),
        ("Type=oneshot", "Type=oneshoot", "service type"),
    ],
)
def test_systemd_verify_rejects_a_broken_unit(old: str, new: str, words: str) -> None:
    unit = (RENDERED_DIR / "local" / UNIT_NAME).read_text(encoding="utf-8")
    assert old in unit
    errors = systemd_errors(UNIT_NAME, unit.replace(old, new, 1))
    assert errors and any(words in error for error in errors), errors
