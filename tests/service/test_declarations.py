"""A tenant's declaration reaches the program one way: parsed once by the caller, handed to the engine in its
environment (``DOKPLOY_CLOUD_TENANT_DECLARATION``), parsed once by the program; never written to disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.environment import Environment, load_environment
from components.naming import TENANT_DECLARATION_VAR
from components.spec import SpecErrors, dump_tenant
from provisioning.declarations import TenantFiles, engine_variables, program_tenant, stored_tenant
from provisioning.stacks import TenantStacks
from provisioning.toolchain import PROJECT_DIR
from service.queue import JobQueue
from service.settings import Settings
from service.worker import Worker, WorkerOptions
from tests.service.fakes import FakeEngine
from tests.service.harness import declaration_files

GIT_TENANT_DIRS = (PROJECT_DIR / "tenants", PROJECT_DIR / "tests" / "e2e" / "tenants")
ACME = (
    "slug: acme\ndisplay_name: Acme Inc.\nplan: starter\nregion: pve-eu1\ndokploy_organization: org_acme\n"
    "owner: ops@acme.example\n"
)


@pytest.fixture(scope="module")
def local() -> Environment:
    return load_environment(PROJECT_DIR, "local")


@pytest.mark.parametrize("directory", GIT_TENANT_DIRS, ids=lambda p: p.relative_to(PROJECT_DIR).as_posix())
def test_the_program_applies_exactly_the_declaration_the_runner_parsed(directory: Path, local: Environment) -> None:
    for slug, spec in TenantFiles(directory, local).load_all().items():
        received = program_tenant(slug, local, directory / "not-read", engine_variables(spec))
        assert received == spec and dump_tenant(received) == dump_tenant(spec)


def test_without_the_variable_the_program_reads_the_git_file(local: Environment) -> None:
    directory = PROJECT_DIR / "tenants"
    assert program_tenant("acme", local, directory, {}) == TenantFiles(directory, local).load("acme")


def test_a_declaration_for_another_slug_is_refused_naming_the_field(local: Environment) -> None:
    with pytest.raises(SpecErrors, match="slug"):
        program_tenant("globex", local, PROJECT_DIR / "tenants", {TENANT_DECLARATION_VAR: ACME})


def test_a_stored_declaration_is_validated_against_the_environment(local: Environment) -> None:
    assert stored_tenant("acme", ACME, local).plan == "starter"
    with pytest.raises(SpecErrors, match="plan"):
        stored_tenant("acme", ACME.replace("plan: starter", "plan: gold"), local)


def test_the_engine_environment_carries_the_declaration(monkeypatch: pytest.MonkeyPatch, local: Environment) -> None:
    for var in ("PROXMOX_VE_API_TOKEN", "DOKPLOY_API_KEY", "PDNS_API_KEY"):
        monkeypatch.setenv(var, "unused-here")
    spec = stored_tenant("acme", ACME, local)
    variables = TenantStacks("local").env_vars(spec)
    assert variables[TENANT_DECLARATION_VAR] == dump_tenant(spec)
    assert "DOKPLOY_CLOUD_TENANTS_DIR" not in variables


def test_a_worker_hands_the_stored_declaration_to_the_runner_and_writes_nothing(
    queue: JobQueue, settings: Settings, engine: FakeEngine, tmp_path: Path, local: Environment
) -> None:
    queue.submit_signup("evt-acme", "acme", "starter", "org_acme", ACME, 3)
    assert Worker(queue, engine, WorkerOptions(), worker_id="w").run_once()
    assert engine.declaration("acme") == dump_tenant(stored_tenant("acme", ACME, local))
    assert declaration_files(tmp_path) == []


def test_an_invalid_stored_declaration_fails_the_job_for_good_without_a_run(
    queue: JobQueue, settings: Settings, engine: FakeEngine
) -> None:
    job_id = queue.submit_signup("evt-acme", "acme", "starter", "org_acme", ACME.replace("pve-eu1", "mars"), 3).job.id
    assert Worker(queue, engine, WorkerOptions(retry_base_seconds=0.01), worker_id="w").run_once()
    job = queue.get_job(job_id)
    assert job.state == "failed" and job.attempts == 1
    assert "region" in (job.error or "") and "service:acme" in (job.error or "")
    assert engine.effects() == [] and engine.state("acme") is None
