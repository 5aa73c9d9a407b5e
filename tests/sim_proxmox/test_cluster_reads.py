"""The read endpoints monitoring and operators' tools call first, through real proxmoxer (issue 12, item 7)."""

from __future__ import annotations

import pytest
from proxmoxer import ProxmoxAPI, ResourceException

from sim.proxmox.backend import Backend


def test_cluster_status_lists_the_cluster_and_every_node(prox_admin: ProxmoxAPI, live_backend: Backend) -> None:
    status = prox_admin.cluster.status.get()
    cluster = [s for s in status if s["type"] == "cluster"]
    nodes = {s["name"]: s for s in status if s["type"] == "node"}
    assert [(c["nodes"], c["quorate"]) for c in cluster] == [(3, 1)]
    assert sorted(nodes) == sorted(live_backend.nodes)
    assert [n["local"] for n in nodes.values()].count(1) == 1
    assert all(n["online"] == 1 and n["ip"] for n in nodes.values())
    live_backend.nodes["pve2"].online = False
    live_backend.nodes["pve3"].online = False
    after = prox_admin.cluster.status.get()
    assert next(s for s in after if s["type"] == "cluster")["quorate"] == 0
    assert {s["name"]: s["online"] for s in after if s["type"] == "node"} == {"pve1": 1, "pve2": 0, "pve3": 0}


def test_a_standalone_node_has_no_cluster_entry() -> None:
    from starlette.testclient import TestClient

    from sim.proxmox.app import Simulator, starlette_app
    from sim.proxmox.seed import credentials

    backend = Backend(nodes=1, speed="fast")
    c = credentials(backend)["admin"]
    client = TestClient(starlette_app(Simulator(backend)), base_url="https://testserver")
    auth = {"Authorization": f"PVEAPIToken={c['user']}!{c['token_name']}={c['token_value']}"}
    status = client.get("/api2/json/cluster/status", headers=auth).json()["data"]
    assert [s["type"] for s in status] == ["node"] and status[0]["local"] == 1


def test_cluster_reads_need_sys_audit(prox: ProxmoxAPI) -> None:
    with pytest.raises(ResourceException) as denied:
        prox.cluster.status.get()
    assert denied.value.status_code == 403


def test_features_a_cluster_does_not_configure_answer_empty(prox_admin: ProxmoxAPI, live_backend: Backend) -> None:
    assert prox_admin.cluster.options.get() == {}
    assert prox_admin.cluster.backup.get() == []
    assert prox_admin.cluster.config.qdevice.get() == {}
    assert {e["id"] for e in prox_admin.cluster.sdn.get()} >= {"vnets", "zones"}
    assert prox_admin.cluster.sdn.vnets.get() == prox_admin.cluster.sdn.zones.get() == []
    assert [ct["vmid"] for ct in prox_admin.nodes("pve1").lxc.get()] == [8000]  # the seeded CT template
    assert prox_admin.nodes("pve1").replication.get() == []
    ha = prox_admin.cluster.ha.status.current.get()
    assert ha[0]["type"] == "quorum" and ha[0]["quorate"] == 1
    guests = {g["vmid"] for g in prox_admin.cluster("backup-info")("not-backed-up").get()}
    assert guests == set(live_backend.vms)


def test_node_network_and_subscription(prox_admin: ProxmoxAPI) -> None:
    node = prox_admin.nodes("pve1")
    ifaces = {i["iface"]: i for i in node.network.get()}
    assert ifaces["vmbr0"]["type"] == "bridge" and ifaces["vmbr0"]["bridge_ports"] == "eno1"
    assert [i["iface"] for i in node.network.get(type="bridge")] == ["vmbr0"]
    sub = node.subscription.get()
    assert sub["status"] == "notfound" and sub["serverid"]


def test_rrd_series_follow_the_timeframe_and_the_vm_state(prox_admin: ProxmoxAPI, live_backend: Backend) -> None:
    node = prox_admin.nodes("pve1")
    hour, day = node.rrddata.get(timeframe="hour"), node.rrddata.get(timeframe="day")
    assert len(hour) == len(day) == 70
    assert hour[1]["time"] - hour[0]["time"] == 60 and day[1]["time"] - day[0]["time"] == 1800
    assert all(r["memtotal"] > 0 for r in hour)
    template = node.qemu(9000).rrddata.get(timeframe="hour")
    assert all(r["cpu"] == 0 and r["mem"] == 0 for r in template), "a stopped VM uses nothing"
    assert len(node.rrddata.get(timeframe="decade", cf="MAX")) == 70
    with pytest.raises(ResourceException) as bad:
        node.rrddata.get(timeframe="fortnight")
    assert bad.value.status_code == 400


def test_permissions_of_the_caller_and_of_others(prox: ProxmoxAPI, prox_admin: ProxmoxAPI) -> None:
    mine = prox.access.permissions.get()
    assert "VM.Allocate" in mine["/pool/tenants"] and "Sys.Modify" not in mine.get("/", {})
    assert prox.access.permissions.get(path="/pool/tenants") == {"/pool/tenants": mine["/pool/tenants"]}
    with pytest.raises(ResourceException) as denied:
        prox.access.permissions.get(userid="root@pam")
    assert denied.value.status_code == 403
    theirs = prox_admin.access.permissions.get(userid="svc@pve!prov")
    assert theirs["/pool/tenants"] == mine["/pool/tenants"]
