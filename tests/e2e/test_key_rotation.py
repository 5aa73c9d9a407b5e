"""SSH key rotation through the real engine: a new key pair, authorised on the running server before Dokploy is
switched to it, the old key removed from Dokploy and the server after, and at no moment a server Dokploy cannot
log in to (a watcher tries Dokploy's own SSH login every few milliseconds throughout the run).

Runs on its own local cloud (module fixture from tests/e2e/conftest.py).
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from provisioning.fleet_db import FleetDatabase
from service.api.app import create_app
from service.api.context import ServiceContext
from service.metrics import Metrics
from service.queue import open_queue
from service.settings import load_settings
from sim.dokploy.exceptions import TRPCError
from tests.e2e.conftest import CloudUnderTest
from tests.e2e.test_tenant_lifecycle import _dokploy_servers
from tests.service.conftest import service_env

pytestmark = pytest.mark.engine
SLUG, REGION, ORG = "alpha", "pve-eu1", "org_alpha"


def _key_id(line: str) -> str:
    return " ".join(line.split()[:2])


def _guest_keys(cloud: CloudUnderTest, address: str) -> set[str]:
    guest = next(g for g in cloud.cloud.proxmox[REGION][0].backend.world_guests() if address in g["addresses"])
    return {_key_id(k) for k in guest["ssh_keys"]}


def _org_keys(cloud: CloudUnderTest) -> list[Any]:
    assert cloud.cloud.dokploy is not None
    return [k for k in cloud.cloud.dokploy[0].ssh_keys.values() if k.organization_id == ORG]


@contextmanager
def watching_logins(cloud: CloudUnderTest) -> Iterator[dict[str, Any]]:
    """Try Dokploy's SSH login to every server of the tenant, over and over, until the block ends."""
    assert cloud.cloud.dokploy is not None
    backend = cloud.cloud.dokploy[0]
    seen: dict[str, Any] = {"tries": 0, "failures": []}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            with backend.lock:
                servers = [s for s in backend.servers.values() if s.organization_id == ORG]
                for server in servers:
                    try:
                        backend.ssh_connect(server)
                    except TRPCError as err:
                        seen["failures"].append((server.server_id, err.message))
                    seen["tries"] += 1
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=5)


BREAKGLASS = "e2e-break-glass-token-0123456789"


def breakglass_read(cloud: CloudUnderTest, tmp_path: Path, slug: str) -> tuple[Any, list[Any]]:
    """``GET /v1/tenants/{slug}/ssh-key`` as the break-glass role on an API over the cloud's stacks; the answer
    and the audit records it left."""
    settings = load_settings(
        {**service_env(tmp_path, f"sqlite://{tmp_path / 'queue.sqlite'}"), "SERVICE_BREAKGLASS_TOKEN": BREAKGLASS}
    )
    queue = open_queue(settings.database_url)
    trail = FleetDatabase(tmp_path / "fleet.sqlite", "local")
    backups = SimpleNamespace(stacks=cloud.stacks)
    ctx = ServiceContext(settings, queue, cloud.stacks.environment, Metrics(queue), backups=backups, audit=trail)  # type: ignore[arg-type]
    client = TestClient(create_app(ctx))
    answer = client.get(
        f"/v1/tenants/{slug}/ssh-key",
        params={"reason": "incident 4711: Dokploy lost its key"},
        headers={"Authorization": f"Bearer {BREAKGLASS}"},
    )
    return answer, trail.chain()


def test_rotation_swaps_the_key_with_no_moment_dokploy_cannot_log_in(local_cloud: CloudUnderTest) -> None:
    first = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert first.ok, first.error
    address = first.outputs["addresses"][0]
    [server] = _dokploy_servers(local_cloud, ORG)
    old_key = local_cloud.cloud.dokploy[0].ssh_keys[server.ssh_key_id]  # type: ignore[index]
    extra = _key_id(local_cloud.tenant(SLUG).extra_ssh_keys[0])
    assert _guest_keys(local_cloud, address) == {_key_id(old_key.public_key), extra}

    with watching_logins(local_cloud) as seen:
        rotated = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up", rotation="rotation-1")
    assert rotated.ok, rotated.error
    assert seen["tries"] > 20 and seen["failures"] == []

    [after] = _dokploy_servers(local_cloud, ORG)
    new_key = local_cloud.cloud.dokploy[0].ssh_keys[after.ssh_key_id]  # type: ignore[index]
    assert after.server_id == server.server_id  # swapped in place: same registration, deployments kept
    assert _key_id(new_key.public_key) != _key_id(old_key.public_key)
    assert [k.ssh_key_id for k in _org_keys(local_cloud)] == [after.ssh_key_id]  # the old key is gone
    assert _guest_keys(local_cloud, address) == {_key_id(new_key.public_key), extra}
    vm = local_cloud.cloud.proxmox[REGION][0].backend.vms[first.outputs["vmIds"][0]]
    assert _key_id(new_key.public_key) in urllib.parse.unquote(vm.config["sshkeys"])  # a later boot agrees
    assert _key_id(old_key.public_key) not in urllib.parse.unquote(vm.config["sshkeys"])
    assert vm.status == "running"

    again = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up", rotation="rotation-1")  # a retry: nothing new
    assert again.ok, again.error and set(again.changes) <= {"same"}
    plain = local_cloud.stacks.run(local_cloud.tenant(SLUG), "preview")
    assert plain.ok and set(plain.changes) <= {"same"}, plain.changes


def test_break_glass_reads_the_current_key_and_the_read_is_audited(local_cloud: CloudUnderTest, tmp_path: Path) -> None:
    answer, records = breakglass_read(local_cloud, tmp_path, SLUG)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    [server] = _dokploy_servers(local_cloud, ORG)
    assert body["private_key"] == local_cloud.cloud.dokploy[0].ssh_keys[server.ssh_key_id].private_key  # type: ignore[index]
    assert body["backend"] == "state" and body["generation"] == 2
    [read] = records
    assert (read.action, read.outcome, read.tenant) == ("secret.read", "granted", SLUG)
    assert "incident 4711" in read.detail and "PRIVATE KEY" not in read.detail and BREAKGLASS not in read.actor
