"""A whole local cloud on free ports, with its own state backend, for end-to-end tests through the real engine."""

from __future__ import annotations

import secrets
import shutil
import socket
import string
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import TenantSpec
from provisioning.declarations import TenantFiles
from provisioning.stacks import TenantStacks
from provisioning.toolchain import PROJECT_DIR
from scripts.localenv.cloud import LocalCloud

TENANT_FIXTURES = Path(__file__).parent / "tenants"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_environment(path: Path, tweak: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Pulumi.local.yaml's settings with every service moved to a free loopback port (and ``tweak`` applied to
    the environment's settings)."""
    data = yaml.safe_load((PROJECT_DIR / "Pulumi.local.yaml").read_text())
    env = data["config"]["dokploy-cloud:environment"]
    if tweak is not None:
        tweak(env)
    env["dns_api_url"] = f"http://127.0.0.1:{_free_port()}"
    env["dokploy_url"] = f"http://127.0.0.1:{_free_port()}"
    for region in env["regions"].values():
        region["endpoint"] = f"https://127.0.0.1:{_free_port()}/"
    config = {k: v for k, v in data["config"].items() if not isinstance(v, dict) or "secure" not in v}
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))


@dataclass
class CloudUnderTest:
    """The running services plus the runner pointed at them."""

    cloud: LocalCloud
    stacks: TenantStacks
    tenants_dir: Path

    def tenant(self, slug: str) -> TenantSpec:
        """``slug``'s declaration as its file reads now (tests edit the files between runs)."""
        return TenantFiles(self.tenants_dir, self.stacks.environment).load(slug)


@pytest.fixture(scope="module")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudUnderTest]:
    yield from running_cloud(tmp_path_factory)


def running_cloud(
    tmp_path_factory: pytest.TempPathFactory, tweak: Callable[[dict[str, Any]], None] | None = None
) -> Iterator[CloudUnderTest]:
    """A local cloud on free ports with the fixture tenants; ``tweak`` changes the environment's settings."""
    root = tmp_path_factory.mktemp("cloud")
    tenants_dir = root / "tenants"
    shutil.copytree(TENANT_FIXTURES, tenants_dir)
    write_environment(root / "Pulumi.e2e.yaml", tweak)
    credentials = {
        "PROXMOX_VE_API_TOKEN": f"dokploy-cloud@pve!e2e={uuid.uuid4()}",
        "DOKPLOY_API_KEY": "".join(secrets.choice(string.ascii_letters) for _ in range(64)),
        "PDNS_API_KEY": secrets.token_urlsafe(24),
    }
    patch = pytest.MonkeyPatch()
    for name, value in {
        **credentials,
        "DOKPLOY_CLOUD_ENV_FILE": str(root / "Pulumi.e2e.yaml"),
        "PULUMI_BACKEND_URL": f"file://{root / 'backend'}",
        "PULUMI_CONFIG_PASSPHRASE": "e2e",
        "ALLOCATIONS_DB": str(root / "allocations.sqlite"),
    }.items():
        patch.setenv(name, value)
    (root / "backend").mkdir()
    stacks = TenantStacks("local")
    specs = TenantFiles(tenants_dir, stacks.environment).load_all()
    cloud = LocalCloud(stacks.environment, credentials, specs).start()
    try:
        yield CloudUnderTest(cloud, stacks, tenants_dir)
    finally:
        cloud.stop()
        patch.undo()
