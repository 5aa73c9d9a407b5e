"""The bridged proxmoxve plugin (bpg) against the Proxmox simulator, with the least-privilege token.

One VM through its life: clone with cloud-init and DHCP, address from the guest agent, cores and
memory changed in place, refresh without drift, destroy.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.proxmox.app import Simulator
from sim.proxmox.backend import Backend
from sim.proxmox.seed import credentials
from sim.proxmox.server import ThreadedServer
from tests.engine.pulumi_cli import PulumiCli

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[ThreadedServer, Backend]]:
    backend = Backend(nodes=2, speed="fast", lease_cidr="10.91.0.0/24")
    server = ThreadedServer(Simulator(backend), port=0, tls=True).start()
    yield server, backend
    server.stop()


@pytest.fixture(scope="module")
def vm_stack(cluster: tuple[ThreadedServer, Backend], tmp_path_factory: pytest.TempPathFactory) -> PulumiCli:
    server, backend = cluster
    root = tmp_path_factory.mktemp("pve")
    shutil.copytree(Path(__file__).parent / "proxmox_project", root / "project")
    (root / "backend").mkdir()
    cli = PulumiCli(project_dir=root / "project", backend_dir=root / "backend", timeout=300)
    token = credentials(backend)["provisioner"]
    cli.run("stack", "init", "sim")
    for key, value in (
        ("endpoint", f"{server.url}/"),
        ("node", "pve1"),
        ("templateId", "9000"),
        ("pool", "tenants"),
        ("cores", "1"),
        ("memory", "1024"),
    ):
        cli.run("config", "set", key, value)
    cli.set_secret("apiToken", f"{token['user']}!{token['token_name']}={token['token_value']}")
    return cli


def _only_vm(backend: Backend) -> int:
    vmids = [vmid for vmid, vm in backend.vms.items() if not vm.config.get("template")]
    assert len(vmids) == 1, vmids
    return vmids[0]


def test_up_clones_starts_and_reports_the_agent_address(
    vm_stack: PulumiCli, cluster: tuple[ThreadedServer, Backend]
) -> None:
    vm_stack.run("up", "--yes", "--skip-preview")
    backend = cluster[1]
    vmid = _only_vm(backend)
    vm = backend.vms[vmid]
    assert vm.status == "running" and "enabled=1" in str(vm.config["agent"])
    assert vmid in backend.pools["tenants"].vms
    addresses = [a for group in vm_stack.outputs()["ipv4"] for a in group]
    assert any(a.startswith("10.91.0.") for a in addresses), addresses
    assert vm_stack.outputs()["vmId"] == vmid


def test_changing_cores_and_memory_updates_in_place(
    vm_stack: PulumiCli, cluster: tuple[ThreadedServer, Backend]
) -> None:
    backend = cluster[1]
    vmid = _only_vm(backend)
    vm_stack.run("config", "set", "cores", "2")
    vm_stack.run("config", "set", "memory", "2048")
    preview = vm_stack.run("preview", "--diff")
    assert "replace" not in preview.stdout and "1 to update" in preview.stdout
    vm_stack.run("up", "--yes", "--skip-preview")
    assert _only_vm(backend) == vmid
    assert int(backend.vms[vmid].config["cores"]) == 2 and int(backend.vms[vmid].config["memory"]) == 2048


def test_refresh_finds_no_drift_and_preview_no_changes(vm_stack: PulumiCli) -> None:
    vm_stack.run("refresh", "--yes", "--expect-no-changes")
    vm_stack.run("preview", "--expect-no-changes")


def test_destroy_removes_the_vm(vm_stack: PulumiCli, cluster: tuple[ThreadedServer, Backend]) -> None:
    vm_stack.run("destroy", "--yes", "--skip-preview")
    assert [vmid for vmid, vm in cluster[1].vms.items() if not vm.config.get("template")] == []
