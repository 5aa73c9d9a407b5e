"""Our Dokploy server provider through the real engine against the Dokploy simulator."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sim.dokploy.admin import seed
from sim.dokploy.backend import Backend
from sim.dokploy.server import ThreadedServer
from sim.dokploy.testing import MutableGuestWorld, guest, keypair
from tests.engine.pulumi_cli import PROJECT_ROOT, PulumiCli

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def dokploy() -> Iterator[tuple[ThreadedServer, MutableGuestWorld, dict[str, Any], tuple[str, str]]]:
    private, public = keypair("engine")
    world = MutableGuestWorld(
        [
            guest(101, "10.50.0.11", [public]),
            guest(102, "10.50.0.12", [public]),
            guest(103, "10.50.0.13", [public], status="stopped"),
        ]
    )
    server = ThreadedServer(Backend(world=world)).start()
    account = seed(server.backend, {"email": "ops@example.test", "serversQuantity": 5})
    yield server, world, account, (private, public)
    server.stop()


def _stack(root: Path, name: str, dokploy: Any, ip: str) -> PulumiCli:
    server, _, account, (private, public) = dokploy
    (root / "backend").mkdir(exist_ok=True)
    if not (root / "project").exists():
        shutil.copytree(Path(__file__).parent / "dokploy_project", root / "project")
    cli = PulumiCli(
        project_dir=root / "project",
        backend_dir=root / "backend",
        timeout=240,
        extra_env={"DOKPLOY_URL": server.url, "DOKPLOY_API_KEY": account["apiKey"], "PYTHONPATH": str(PROJECT_ROOT)},
    )
    cli.run("stack", "init", name)
    cli.run("config", "set", "organizationId", account["organizationId"], "-s", name)
    cli.run("config", "set", "ip", ip, "-s", name)
    cli.run("config", "set", "publicKey", public, "-s", name)
    cli.set_secret("privateKey", private, name)
    return cli


@pytest.fixture(scope="module")
def stack(dokploy: Any, tmp_path_factory: pytest.TempPathFactory) -> PulumiCli:
    return _stack(tmp_path_factory.mktemp("dokploy"), "main", dokploy, "10.50.0.11")


def test_up_registers_and_sets_up_the_server(stack: PulumiCli, dokploy: Any) -> None:
    stack.run("up", "--yes", "--skip-preview")
    rows = list(dokploy[0].backend.servers.values())
    assert len(rows) == 1 and rows[0].ip_address == "10.50.0.11"
    assert stack.outputs()["serverId"] == rows[0].server_id
    assert "BEGIN OPENSSH PRIVATE KEY" not in stack.run("stack", "export").stdout, "private key in plain state"


def test_second_up_is_a_no_op(stack: PulumiCli) -> None:
    stack.run("preview", "--expect-no-changes")


def test_changing_the_address_updates_in_place(stack: PulumiCli, dokploy: Any) -> None:
    before = stack.outputs()["serverId"]
    stack.run("config", "set", "ip", "10.50.0.12")
    preview = stack.run("preview", "--diff")
    assert "1 to update" in preview.stdout and "replace" not in preview.stdout
    stack.run("up", "--yes", "--skip-preview")
    assert stack.outputs()["serverId"] == before
    assert dokploy[0].backend.servers[before].ip_address == "10.50.0.12"


def test_server_deleted_in_dokploy_is_detected_and_repaired(stack: PulumiCli, dokploy: Any) -> None:
    backend = dokploy[0].backend
    with backend.lock:
        backend.servers.clear()
    refresh = stack.run("refresh", "--yes", "--expect-no-changes", check=False)
    assert refresh.returncode != 0, "refresh should report the missing server"
    stack.run("up", "--yes", "--skip-preview")
    assert len(backend.servers) == 1


def test_setup_failure_fails_clearly_and_leaves_nothing(dokploy: Any, tmp_path: Path) -> None:
    backend = dokploy[0].backend
    before_servers, before_keys = set(backend.servers), set(backend.ssh_keys)
    failing = _stack(tmp_path, "stopped-vm", dokploy, "10.50.0.13")
    result = failing.run("up", "--yes", "--skip-preview", check=False)
    assert result.returncode != 0
    assert "did not complete" in result.stdout and "root@10.50.0.13:22" in result.stdout
    assert set(backend.servers) == before_servers and set(backend.ssh_keys) == before_keys


def test_destroy_removes_server_and_key(stack: PulumiCli, dokploy: Any) -> None:
    stack.run("destroy", "--yes", "--skip-preview")
    assert dokploy[0].backend.servers == {} and dokploy[0].backend.ssh_keys == {}
