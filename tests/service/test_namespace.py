"""One namespace for git-declared and service tenants: checked at the door, by cloudctl, and kept for older tenants."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.environment import load_environment
from provisioning.toolchain import PROJECT_DIR
from scripts import cloudctl
from service.namespace import pin_existing_hostnames
from service.queue import JobQueue
from tests.service.harness import RunningService, signup_body
from tests.service.test_signups import nothing_created
from tests.support.tenant_files import tenant_yaml


def git_tenant(directory: Path, slug: str, servers: int = 1, scheme: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    extra = f"hostname_scheme: {scheme}\n" if scheme else ""
    (directory / f"{slug}.yaml").write_text(tenant_yaml(slug, servers, extra, org_prefix="org_git"))


def test_signup_for_a_slug_declared_in_git_is_refused(service: RunningService) -> None:
    git_tenant(service.settings.git_tenants_dir, "initech")
    response = service.signup(signup_body("initech"))
    assert response.status_code == 409 and "declared in git-tenants/" in response.json()["detail"]
    assert nothing_created(service)


def test_signup_taking_a_numbered_server_name_is_refused(service: RunningService) -> None:
    git_tenant(service.settings.git_tenants_dir, "acme", servers=2, scheme="numbered")
    response = service.signup(signup_body("acme-2"))
    assert response.status_code == 409
    assert "host name 'acme-2' is already used by tenant 'acme'" in response.json()["detail"]
    assert nothing_created(service)


def test_signups_with_subdomain_names_do_not_collide(service: RunningService) -> None:
    assert service.signup(signup_body("acme", plan="business", servers=2)).status_code == 202
    assert service.signup(signup_body("acme-2", plan="business", servers=2)).status_code == 202


def _declare_old_service_tenant(queue: JobQueue, slug: str, servers: int) -> None:
    """A declaration as the service wrote it before hostname schemes existed (no hostname_scheme field)."""
    text = yaml.safe_dump(
        {
            "slug": slug,
            "display_name": slug,
            "plan": "business",
            "region": "pve-eu1",
            "dokploy_organization": f"org_{slug}",
            "owner": f"ops@{slug}.example",
            "servers": servers,
        },
        sort_keys=False,
    )
    queue.submit_signup(f"evt-{slug}", slug, "business", f"org_{slug}", text, 3)


def test_older_service_tenants_keep_their_numbered_names(queue: JobQueue) -> None:
    environment = load_environment(PROJECT_DIR, "local")
    _declare_old_service_tenant(queue, "oldco", 2)
    _declare_old_service_tenant(queue, "solo", 1)
    assert pin_existing_hostnames(queue, environment) == ["oldco"]
    assert yaml.safe_load(queue.get_tenant("oldco").declaration)["hostname_scheme"] == "numbered"
    assert "hostname_scheme" not in yaml.safe_load(queue.get_tenant("solo").declaration)
    assert pin_existing_hostnames(queue, environment) == []  # idempotent


def test_cloudctl_refuses_a_git_tenant_whose_slug_the_service_owns(
    tmp_path: Path, queue: JobQueue, settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _declare_old_service_tenant(queue, "oldco", 1)
    git = tmp_path / "git"
    git_tenant(git, "oldco")
    monkeypatch.setenv("SERVICE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("SERVICE_ENV", "local")
    assert cloudctl.main(["--env", "local", "--tenants-dir", str(git), "up", "oldco"]) == 2
    out = capsys.readouterr().out
    assert "slug 'oldco' belongs to a tenant of the provisioning service" in out


def test_cloudctl_reads_the_service_database_without_creating_or_migrating_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    git = tmp_path / "git"
    git_tenant(git, "newco")
    missing = tmp_path / "service" / "queue.sqlite"
    monkeypatch.setenv("SERVICE_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("SERVICE_ENV", "local")
    assert cloudctl.main(["--env", "local", "--tenants-dir", str(git), "up", "newco"]) == 2
    assert "cannot read the service's tenants from SERVICE_DATABASE_URL" in capsys.readouterr().out
    assert not missing.exists() and not missing.parent.exists()
