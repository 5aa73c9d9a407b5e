"""The proxmoxer client the allocation provider builds from PROXMOX_VE_* variables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clients.proxmox import ProxmoxSettingsError, client_from_env, cluster_nodes, cluster_vms
from sim.proxmox.app import Simulator
from sim.proxmox.backend import Backend
from sim.proxmox.faults import Faults
from sim.proxmox.seed import credentials
from sim.proxmox.server import ThreadedServer


@pytest.fixture(scope="module")
def pve() -> Iterator[tuple[ThreadedServer, Backend]]:
    backend = Backend(nodes=2, speed="fast")
    server = ThreadedServer(Simulator(backend, faults=Faults(7)), port=0, tls=True).start()
    yield server, backend
    server.stop()


def _env(monkeypatch: pytest.MonkeyPatch, server: ThreadedServer, backend: Backend) -> None:
    tok = credentials(backend)["provisioner"]  # least privilege, as the product runs
    monkeypatch.setenv("PROXMOX_VE_ENDPOINT", f"{server.url}/")
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", f"{tok['user']}!{tok['token_name']}={tok['token_value']}")
    monkeypatch.setenv("PROXMOX_VE_INSECURE", "true")


def test_reads_nodes_and_vms(pve: tuple[ThreadedServer, Backend], monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, *pve)
    api = client_from_env()
    assert sorted(n["node"] for n in cluster_nodes(api)) == ["pve1", "pve2"]
    assert [vm["vmid"] for vm in cluster_vms(api)] == [9000]


def test_transient_errors_on_reads_are_retried(
    pve: tuple[ThreadedServer, Backend], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, backend = pve
    _env(monkeypatch, server, backend)
    server.sim.faults.set_rules([{"path": "/cluster/resources", "error_rate": 1.0, "status": 503, "count": 2}])
    try:
        assert len(cluster_nodes(client_from_env())) == 2
        assert server.sim.faults.rules[0].count == 0, "both injected 503s should have been answered and retried"
    finally:
        server.sim.faults.set_rules([])


@pytest.mark.parametrize(
    "endpoint,token,field",
    [
        ("", "dokploy-cloud@pve!x=y", "PROXMOX_VE_ENDPOINT"),
        ("http://pve:8006/", "dokploy-cloud@pve!x=y", "PROXMOX_VE_ENDPOINT"),
        ("https://pve:8006/", "no-token-shape", "PROXMOX_VE_API_TOKEN"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, endpoint: str, token: str, field: str) -> None:
    monkeypatch.setenv("PROXMOX_VE_ENDPOINT", endpoint)
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", token)
    with pytest.raises(ProxmoxSettingsError, match=field) as err:
        client_from_env()
    assert token not in str(err.value)
