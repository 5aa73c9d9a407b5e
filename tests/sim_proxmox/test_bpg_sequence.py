"""Replays the bpg provider's VmLegacy call sequence (CONTRACT §8.2-§8.5) with requests and checks
status codes and the JSON types bpg's strict Go decoding needs (§8.6)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
import requests

from sim.proxmox.seed import credentials

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx7 tenant@example"


class Bpg:
    """Just enough of bpg's client: token auth, form bodies with 1/0 booleans, 1 s polls (here fast)."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base + "/api2/json"
        self.s = requests.Session()
        self.s.verify = False
        self.s.headers["Authorization"] = token

    def call(self, method: str, path: str, expect: int = 200, **data: Any) -> Any:
        kw = {"params": data} if method in ("GET", "DELETE") else {"data": data}
        r = self.s.request(method, self.base + path, timeout=5, verify=False, **kw)
        assert r.status_code == expect, (method, path, r.status_code, r.reason, r.text)
        return r.json()["data"] if r.content else None

    def wait(self, node: str, upid: str) -> None:
        escaped = upid.replace("!", "%21")  # bpg escapes '!'
        for _ in range(100):
            st = self.call("GET", f"/nodes/{node}/tasks/{escaped}/status")
            assert isinstance(st["status"], str) and isinstance(st["pid"], int)
            if st["status"] != "running":
                assert st["exitstatus"] == "OK", self.call(
                    "GET", f"/nodes/{node}/tasks/{escaped}/log", start=0, limit=50
                )
                return
        pytest.fail("task did not finish")


def numbers(obj: dict[str, Any], *keys: str) -> None:
    for key in keys:
        assert isinstance(obj[key], (int, float)) and not isinstance(obj[key], bool), (key, obj.get(key))


@pytest.fixture
def bpg(live, live_backend) -> Bpg:
    server, _ = live
    c = credentials(live_backend)["provisioner"]
    return Bpg(server.url, f"PVEAPIToken={c['user']}!{c['token_name']}={c['token_value']}")


def read(bpg: Bpg, vmid: int) -> dict[str, Any]:
    """§8.3."""
    res = bpg.call("GET", "/cluster/resources", type="vm")
    entry = next(r for r in res if r["vmid"] == vmid)
    numbers(entry, "vmid", "uptime", "maxcpu", "maxmem", "maxdisk", "disk")
    node = entry["node"]
    cfg = bpg.call("GET", f"/nodes/{node}/qemu/{vmid}/config")
    numbers(cfg, "cores", "sockets")
    for key, value in cfg.items():
        if key.startswith(("scsi", "ide", "net", "ipconfig")):
            assert isinstance(value, str), key
    st = bpg.call("GET", f"/nodes/{node}/qemu/{vmid}/status/current")
    numbers(st, "vmid", "uptime", "cpus", "maxmem", "maxdisk")
    volid = urllib.parse.quote(cfg["scsi0"].split(",")[0], safe="")
    assert bpg.call("GET", f"/nodes/{node}/storage/local-lvm/content/{volid}")["format"] == "raw"
    pools = bpg.call("GET", "/pools")
    member = bpg.call("GET", "/pools", poolid=pools[0]["poolid"])[0]["members"]
    assert any(m["id"] == f"qemu/{vmid}" for m in member)
    if st["status"] == "running":
        ifaces = bpg.call("GET", f"/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces")["result"]
        for iface in ifaces:
            for addr in iface["ip-addresses"]:
                numbers(addr, "prefix")
            numbers(iface["statistics"], "rx-bytes", "tx-bytes")
    return {"cfg": cfg, "status": st}


def test_bpg_create_read_update_delete(bpg: Bpg) -> None:
    vmid = int(bpg.call("GET", "/cluster/nextid"))
    assert bpg.call("GET", "/cluster/nextid", expect=200, vmid=vmid) == str(vmid)
    q = f"/nodes/pve1/qemu/{vmid}"
    bpg.wait(
        "pve1",
        bpg.call(
            "POST",
            "/nodes/pve1/qemu/9000/clone",
            newid=vmid,
            full=1,
            name="tenant-a",
            pool="tenants",
            storage="local-lvm",
        ),
    )
    assert "lock" not in bpg.call("GET", q + "/status/current")
    cfg = bpg.call("GET", q + "/config")
    ci = next(k for k, v in cfg.items() if f"vm-{vmid}-cloudinit" in str(v))
    assert bpg.call("PUT", q + "/config", delete=ci) is None
    bpg.call(
        "PUT",
        q + "/config",
        agent="enabled=1,fstrim_cloned_disks=0,type=virtio",
        cores=2,
        sockets=1,
        cpu="x86-64-v2-AES,flags=",
        numa=0,
        memory=2048,
        balloon=0,
        ide2="file=local-lvm:cloudinit,",
        ipconfig0="ip=10.30.0.7/24,gw=10.30.0.1",
        nameserver="1.1.1.1",
        searchdomain="example.com",
        ciuser="dokploy",
        sshkeys=urllib.parse.quote(KEY, safe=""),
        net0="model=virtio,bridge=vmbr0,firewall=0",
        delete=",".join(f"net{i}" for i in range(1, 32)),
        onboot=1,
        tags="tenant-a;prod",
    )
    cfg = bpg.call("GET", q + "/config")
    assert cfg["ide2"] == f"local-lvm:vm-{vmid}-cloudinit,media=cdrom"
    assert cfg["net0"].startswith("virtio=BC:24:11:") and cfg["net0"].endswith(",bridge=vmbr0,firewall=0")
    bpg.wait("pve1", bpg.call("PUT", q + "/resize", disk="scsi0", size=str(20 * 1024**3)))
    assert bpg.call("GET", q + "/status/current")["status"] == "stopped"
    bpg.wait("pve1", bpg.call("POST", q + "/status/start", timeout=1800))
    state = read(bpg, vmid)
    assert "size=20G" in state["cfg"]["scsi0"] and state["status"]["status"] == "running"
    # §8.4 update: cores/memory change on a running VM -> pending -> shutdown + start
    bpg.call(
        "PUT",
        q + "/config",
        cores=4,
        sockets=1,
        numa=0,
        memory=4096,
        balloon=0,
        name="tenant-a",
        delete="vcpus,cpulimit",
    )
    assert bpg.call("GET", q + "/config", current=1)["cores"] == 2
    bpg.wait("pve1", bpg.call("POST", q + "/status/shutdown", forceStop=1, timeout=1800))
    bpg.wait("pve1", bpg.call("POST", q + "/status/start", timeout=1800))
    assert read(bpg, vmid)["cfg"]["cores"] == 4
    # §8.5 delete
    bpg.wait("pve1", bpg.call("POST", q + "/status/shutdown", forceStop=1, timeout=1800))
    r = bpg.s.delete(bpg.base + q + "/", params={"destroy-unreferenced-disks": 1, "purge": 1}, timeout=5, verify=False)
    assert r.status_code == 200
    bpg.wait("pve1", r.json()["data"])
    gone = bpg.s.get(bpg.base + q + "/status/current", timeout=5, verify=False)
    assert gone.status_code >= 400


def test_storage_resources_have_string_content_and_are_filtered_by_type(bpg: Bpg) -> None:
    vm_only = bpg.call("GET", "/cluster/resources", type="vm")
    # PVE's type=vm means guests: VMs and containers (the seed holds both kinds of template).
    assert {r["type"] for r in vm_only} == {"qemu", "lxc"}
    storages = bpg.call("GET", "/cluster/resources", type="storage")
    assert storages and all(isinstance(s["content"], str) for s in storages)
