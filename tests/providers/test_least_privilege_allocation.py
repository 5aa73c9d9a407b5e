"""Allocation under the product's least-privilege token: VMs outside its pool are invisible to it,
yet their ids are never handed out and their memory counts in placement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.environment import Region
from ipam.placement import PlacementError
from providers.allocation import AllocationProvider
from provisioning.proxmox_access import ROLES
from scripts.localenv.proxmox_admin import RootTokenRefused, grant_provisioner
from sim.proxmox.app import Simulator
from sim.proxmox.backend import Backend
from sim.proxmox.faults import Faults
from sim.proxmox.seed import seed_cluster
from sim.proxmox.server import ThreadedServer

REGION = Region(
    name="pve-eu1",
    endpoint="https://127.0.0.1:8006/",
    nodes=("pve1", "pve2"),
    templates={"pve1": 9000, "pve2": 9001},
    datastore="local-lvm",
    network="10.77.0.0/24",
    gateway="10.77.0.1",
    vmid_start=10000,
    vmid_end=10099,
    pool="dokploy-test",
)
TOKEN = "dokploy-cloud@pve!alloc=0b9b3c9e-1111-4222-8333-444455556666"
PROPS = {
    "pool": "test/pve-eu1",
    "owner": "acme/0",
    "vmid_start": 10000,
    "vmid_end": 10099,
    "network": "10.77.0.0/24",
    "gateway": "10.77.0.1",
    "reserved": 10,
    "nodes": ["pve1", "pve2"],
    "memory_mb": 4096,
}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    """Two 64 GiB nodes; an administrator's running 60 GiB VM at id 10000 on pve1, outside the pool."""
    backend = Backend(speed="fast")
    seed_cluster(backend, 2, template_per_node=True)
    backend.clone("pve1", 9000, 10000, "root@pam", name="someone-elses")
    backend.vms[10000].config["memory"] = str(60 * 1024)
    backend.start("pve1", 10000, "root@pam")
    backend.tick()
    assert backend.vms[10000].status == "running" and backend.vms[10000].pool is None
    server = ThreadedServer(Simulator(backend, faults=Faults(0)), port=0, tls=True).start()
    monkeypatch.setenv("PROXMOX_VE_ENDPOINT", f"{server.url}/")
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", TOKEN)
    monkeypatch.setenv("PROXMOX_VE_INSECURE", "true")
    monkeypatch.setenv("ALLOCATIONS_DB", str(tmp_path / "allocations.sqlite"))
    try:
        yield backend
    finally:
        server.stop()


def test_ids_and_load_of_vms_the_token_cannot_see_still_count(cluster: Backend) -> None:
    grant_provisioner(cluster, REGION, TOKEN)
    outs = AllocationProvider().create(dict(PROPS)).outs
    assert outs["vmid"] == 10001, "id 10000 is taken by a VM outside the token's pool"
    assert outs["node"] == "pve2", "pve1 has 4 GiB left: its running guests use 60 GiB"


def test_without_sys_audit_on_nodes_placement_refuses_and_says_why(cluster: Backend) -> None:
    grant_provisioner(cluster, REGION, TOKEN, roles={**ROLES, "DokployCloudNodes": ()})
    with pytest.raises(PlacementError, match=r"node pve1: .*needs Sys.Audit on /nodes"):
        AllocationProvider().create(dict(PROPS))


def test_the_local_cloud_refuses_a_root_token() -> None:
    backend = Backend(speed="fast")
    seed_cluster(backend, 2, template_per_node=True)
    with pytest.raises(RootTokenRefused, match="not as root@pam"):
        grant_provisioner(backend, REGION, "root@pam!x=0b9b3c9e-1111-4222-8333-444455556666")
