"""The anti-spoofing set provider against the Proxmox simulator, with the least-privilege token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.ip_filter import IpFilterProvider
from sim.proxmox.app import Simulator
from sim.proxmox.backend import Backend
from sim.proxmox.seed import LXC_OSTEMPLATE, credentials
from sim.proxmox.server import ThreadedServer

NIC = "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"


@pytest.fixture
def vm(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Backend, int]]:
    backend = Backend(nodes=2, speed="fast")
    server = ThreadedServer(Simulator(backend), port=0, tls=True).start()
    backend.clone("pve1", 9000, 101, "root@pam", name="t-1", pool="tenants")
    tok = credentials(backend)["provisioner"]
    monkeypatch.setenv("PROXMOX_VE_ENDPOINT", f"{server.url}/")
    monkeypatch.setenv("PROXMOX_VE_API_TOKEN", f"{tok['user']}!{tok['token_name']}={tok['token_value']}")
    monkeypatch.setenv("PROXMOX_VE_INSECURE", "true")
    with backend.lock:
        backend.vms[101].config["net0"] = NIC
        backend.vms[101].firewall["options"].update(enable=1, ipfilter=1)
    yield backend, 101
    server.stop()


def _entries(backend: Backend, vmid: int) -> list[str]:
    return [e["cidr"] for e in backend.vms[vmid].firewall["ipsets"].get("ipfilter-net0", {}).get("entries", [])]


def test_create_makes_the_set_and_the_vm_can_send_only_from_its_address(vm: tuple[Backend, int]) -> None:
    backend, vmid = vm
    assert not backend.may_send_from(vmid, "10.30.0.4")  # ipfilter on, no set: nothing gets out
    IpFilterProvider().create({"node": "pve1", "vm_id": vmid, "address": "10.30.0.4"})
    assert _entries(backend, vmid) == ["10.30.0.4"]
    assert backend.may_send_from(vmid, "10.30.0.4") and not backend.may_send_from(vmid, "10.30.0.5")


def test_create_over_a_set_an_interrupted_run_left_converges(vm: tuple[Backend, int]) -> None:
    backend, vmid = vm
    with backend.lock:
        backend.vms[vmid].firewall["ipsets"]["ipfilter-net0"] = {"comment": "", "entries": [{"cidr": "10.9.9.9"}]}
    IpFilterProvider().create({"node": "pve1", "vm_id": vmid, "address": "10.30.0.4"})
    IpFilterProvider().create({"node": "pve1", "vm_id": vmid, "address": "10.30.0.4"})  # and again
    assert _entries(backend, vmid) == ["10.30.0.4"]


def test_a_migration_needs_no_call_and_delete_removes_the_set(vm: tuple[Backend, int]) -> None:
    backend, vmid = vm
    provider = IpFilterProvider()
    props = {"node": "pve1", "vm_id": vmid, "address": "10.30.0.4"}
    provider.create(props)
    moved = {**props, "node": "pve2"}
    assert provider.diff("x", props, moved).replaces == []
    assert provider.update("x", props, moved).outs["node"] == "pve2"
    assert _entries(backend, vmid) == ["10.30.0.4"]
    provider.delete("x", props)
    assert "ipfilter-net0" not in backend.vms[vmid].firewall["ipsets"]
    provider.delete("x", {**props, "vm_id": 999})  # a VM already gone: nothing to do


def test_a_container_set_lives_on_the_container_firewall(vm: tuple[Backend, int]) -> None:
    backend, _vmid = vm
    params = {"ostemplate": LXC_OSTEMPLATE, "rootfs": "local-lvm:8", "net0": "name=eth0,bridge=vmbr0,firewall=1"}
    backend.ct_create("pve1", 102, params, "root@pam")
    with backend.lock:
        backend.vms[102].pool = "tenants"
    provider, props = IpFilterProvider(), {"node": "pve1", "vm_id": 102, "address": "10.30.0.6", "kind": "lxc"}
    provider.create(props)
    assert _entries(backend, 102) == ["10.30.0.6"]
    provider.delete("102/ipfilter-net0", props)
    assert "ipfilter-net0" not in backend.vms[102].firewall["ipsets"]
    with pytest.raises(ValueError, match="kind 'docker'"):
        provider.create({**props, "kind": "docker"})
