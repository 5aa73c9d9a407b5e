"""Every object the simulator holds can be read (no 501 for an object it models), through real proxmoxer."""

from __future__ import annotations

import urllib.parse

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from sim.proxmox.backend import Backend

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx7 tenant@example"


def test_users_tokens_roles_groups_and_realms(prox_admin: ProxmoxAPI, prox: ProxmoxAPI, live_backend: Backend) -> None:
    users = {u["userid"]: u for u in prox_admin.access.users.get(full=1)}
    assert "svc@pve" in users and "prov" in {t["tokenid"] for t in users["svc@pve"]["tokens"]}
    assert [u["userid"] for u in prox.access.users.get()] == ["svc@pve"], "a user without audit rights sees itself"
    assert prox_admin.access.users("svc@pve").get()["tokens"]["prov"]["privsep"] == 1
    token = prox_admin.access.users("svc@pve").token("prov").get()
    assert token["privsep"] == 1 and "value" not in token
    roles = {r["roleid"]: r for r in prox_admin.access.roles.get()}
    assert roles["PVEVMAdmin"]["special"] == 1 and roles["TenantProvisioner"]["special"] == 0
    assert set(prox_admin.access.roles("TenantProvisioner").get()) == set(
        roles["TenantProvisioner"]["privs"].split(",")
    )
    with pytest.raises(ResourceException, match="does not exist"):
        prox_admin.access.roles("Nope").get()
    assert {d["realm"] for d in prox_admin.access.domains.get()} == {"pam", "pve"}
    assert prox_admin.access.domains("pve").get()["type"] == "pve"
    live_backend.access.users["svc@pve"].groups.append("ops")
    assert prox_admin.access.groups.get() == [{"groupid": "ops", "users": "svc@pve"}]
    assert prox_admin.access.groups("ops").get() == {"members": ["svc@pve"]}
    assert {e["subdir"] for e in prox_admin.access.get()} >= {"users", "roles", "acl", "permissions"}


def test_indexes_of_directories_come_from_the_schema(prox_admin: ProxmoxAPI) -> None:
    assert {e["name"] for e in prox_admin.cluster.get()} >= {"resources", "status", "tasks", "nextid"}
    assert {e["subdir"] for e in prox_admin.nodes("pve1").storage("local-lvm").get()} >= {"content", "status"}
    vm_fw = prox_admin.nodes("pve1").qemu(9000).firewall.get()
    assert {e["name"] for e in vm_fw} >= {"rules", "options", "ipset"}


def test_vm_reads_ipset_entry_cloudinit_documents_and_features(prox: ProxmoxAPI, live_backend: Backend) -> None:
    vmid = int(prox.cluster.nextid.get())
    node = prox.nodes("pve1")
    upid = node.qemu(9000).clone.post(newid=vmid, pool="tenants", full=1, storage="cephpool")
    assert Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)["exitstatus"] == "OK"
    vm = node.qemu(vmid)
    vm.config.put(ciuser="dokploy", sshkeys=urllib.parse.quote(KEY, safe=""), ipconfig0="ip=10.20.0.5/24,gw=10.20.0.1")
    vm.firewall.ipset.post(name="ipfilter-net0")
    vm.firewall.ipset("ipfilter-net0").post(cidr="10.20.0.5")
    assert vm.firewall.ipset("ipfilter-net0")("10.20.0.5").get()["cidr"] == "10.20.0.5"
    user = vm.cloudinit.dump.get(type="user")
    assert user.startswith("#cloud-config") and "user: dokploy" in user and KEY in user
    assert "address: '10.20.0.5/24'" in vm.cloudinit.dump.get(type="network")
    assert vm.feature.get(feature="snapshot")["hasFeature"] == 1, "RBD snapshots"
    local = node.qemu(9000).feature.get(feature="snapshot")
    assert local["nodes"] == ["pve1"], "a VM on local storage stays on its node"


def test_cluster_tasks_and_storage_series(prox: ProxmoxAPI, prox_admin: ProxmoxAPI) -> None:
    vmid = int(prox.cluster.nextid.get())
    upid = prox.nodes("pve1").qemu(9000).clone.post(newid=vmid, pool="tenants", full=1)
    Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)
    assert upid in {t["upid"] for t in prox.cluster.tasks.get()}, "the token sees its own task"
    assert upid in {t["upid"] for t in prox_admin.cluster.tasks.get()}
    assert {e["name"] for e in prox.nodes("pve1").tasks(upid).get()} == {"log", "status"}
    series = prox_admin.nodes("pve1").storage("local-lvm").rrddata.get(timeframe="hour")
    assert len(series) == 70 and all(r["used"] <= r["total"] for r in series)
