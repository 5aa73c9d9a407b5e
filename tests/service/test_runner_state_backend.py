"""A state backend that cannot be opened (PostgreSQL restarting, two hosts' first table creation racing)
fails the attempt as transient, so the worker retries it, instead of failing the tenant for good."""

from __future__ import annotations

import socket

import pytest
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

from provisioning.declarations import TenantFiles
from provisioning.failures import is_retryable
from provisioning.runner import CrashSafeRunner
from provisioning.stacks import TenantStacks, engine_error
from provisioning.toolchain import PROJECT_DIR, TOOLS_DIR

pytestmark = pytest.mark.engine

# What the CLI printed in CI when two worker hosts opened a fresh PostgreSQL state database at once.
RACED = (
    'error: unable to open state database "postgres://postgres@127.0.0.1:52025/state_9ee88124?sslmode=disable": '
    "failed to create table pulumi_state: pq: duplicate key value violates unique constraint "
    '"pg_type_typname_nsp_index" (23505)'
)


def test_a_state_database_that_cannot_be_opened_is_retryable() -> None:
    assert is_retryable(RACED)


def test_a_password_in_a_backend_url_never_reaches_the_error() -> None:
    failed = auto.CommandError(
        CommandResult(stdout="", code=1, stderr=RACED.replace("postgres@", "postgres:s3cr3t-pw@"))
    )
    message = engine_error(failed)
    assert "s3cr3t-pw" not in message and "postgres:***@127.0.0.1" in message


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_recovery_that_cannot_open_the_state_backend_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    if not (TOOLS_DIR / "bin" / "pulumi").exists():
        pytest.fail("the pulumi CLI is not built: run scripts/setup.sh")
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"postgres://nobody@127.0.0.1:{_closed_port()}/state?sslmode=disable")
    for var in ("PROXMOX_VE_API_TOKEN", "DOKPLOY_API_KEY", "PDNS_API_KEY"):
        monkeypatch.setenv(var, "unused-here")
    stacks = TenantStacks("local")
    result = CrashSafeRunner(stacks).run(TenantFiles(PROJECT_DIR / "tenants", stacks.environment).load("acme"), "up")
    assert not result.ok
    assert result.error_kind == "transient", result.error
    assert "cannot read the stack state database (PULUMI_BACKEND_URL)" in (result.error or "")
