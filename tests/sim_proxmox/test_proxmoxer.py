"""Real, unmodified proxmoxer against the live TLS server."""

from __future__ import annotations

import time
import urllib.parse

import pytest
import requests
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx7 tenant@example"


def wait(prox: ProxmoxAPI, upid: str) -> dict:
    status = Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)
    assert status is not None
    return status


def test_full_lifecycle_with_least_privilege_token(prox: ProxmoxAPI, live_backend) -> None:
    vmid = int(prox.cluster.nextid.get())
    node = prox.nodes("pve1")
    upid = node.qemu(9000).clone.post(newid=vmid, name="tenant-a", pool="tenants", full=1)
    assert wait(prox, upid)["exitstatus"] == "OK"
    node.qemu(vmid).config.put(
        cores=2,
        memory=4096,
        ciuser="dokploy",
        ipconfig0="ip=10.20.0.5/24,gw=10.20.0.1",
        sshkeys=urllib.parse.quote(KEY, safe=""),
        tags="tenant-a;prod",
    )
    cfg = node.qemu(vmid).config.get()
    assert (cfg["cores"], cfg["memory"], cfg["sshkeys"]) == (2, "4096", urllib.parse.quote(KEY, safe=""))
    assert wait(prox, node.qemu(vmid).status.start.post())["exitstatus"] == "OK"
    ifaces = node.qemu(vmid).agent("network-get-interfaces").get()["result"]
    assert ifaces[1]["ip-addresses"][0]["ip-address"] == "10.20.0.5"
    assert wait(prox, node.qemu(vmid).resize.put(disk="scsi0", size="+4G"))["exitstatus"] == "OK"
    assert "size=12G" in node.qemu(vmid).config.get()["scsi0"]
    assert wait(prox, node.qemu(vmid).status.stop.post())["exitstatus"] == "OK"
    assert wait(prox, node.qemu(vmid).delete(purge=1, **{"destroy-unreferenced-disks": 1}))["exitstatus"] == "OK"
    # The destroy also removed it from the pool, so the pool-scoped token now gets 403 (as on PVE).
    with pytest.raises(ResourceException) as err:
        node.qemu(vmid).status.current.get()
    assert err.value.content == f"Permission check failed (/vms/{vmid}, VM.Audit)"
    assert vmid not in live_backend.vms


def test_token_denied_without_pool(prox: ProxmoxAPI) -> None:
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").qemu(9000).clone.post(newid=300)
    assert err.value.status_code == 403 and err.value.content == "Permission check failed"


def test_token_denied_on_foreign_vm(prox: ProxmoxAPI, prox_admin: ProxmoxAPI) -> None:
    wait(prox_admin, prox_admin.nodes("pve1").qemu(9000).clone.post(newid=400))
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").qemu(400).status.start.post()
    assert err.value.content == "Permission check failed (/vms/400, VM.PowerMgmt)"


def test_token_denied_storage_without_grant(prox: ProxmoxAPI, live_backend) -> None:
    live_backend.access.acl = [
        a for a in live_backend.access.acl if a.path != "/storage/local-lvm" or a.kind != "token"
    ]
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").qemu(9000).clone.post(newid=301, pool="tenants")
    assert err.value.content == "Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)"


def test_validation_error_surface(prox_admin: ProxmoxAPI) -> None:
    with pytest.raises(ResourceException) as err:
        prox_admin.nodes("pve1").qemu(9000).config.put(scsihw="bogus")
    assert err.value.status_code == 400 and err.value.content == "Parameter verification failed."
    assert err.value.errors["scsihw"].startswith("value 'bogus' does not have a value in the enumeration 'lsi, ")


def test_nextid_race_second_clone_fails(prox: ProxmoxAPI) -> None:
    a, b = prox.cluster.nextid.get(), prox.cluster.nextid.get()
    assert a == b
    wait(prox, prox.nodes("pve1").qemu(9000).clone.post(newid=a, pool="tenants"))
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").qemu(9000).clone.post(newid=b, pool="tenants")
    assert err.value.content == f"unable to create VM {b}: config file already exists"


def test_lock_conflict_during_slow_clone(prox: ProxmoxAPI, prox_admin: ProxmoxAPI, live_backend) -> None:
    live_backend.settings.durations.set_speed("realistic")
    upid = prox.nodes("pve1").qemu(9000).clone.post(newid=500, pool="tenants", full=1)
    with pytest.raises(ResourceException) as err:
        prox_admin.nodes("pve1").qemu(500).config.put(cores=4)
    assert err.value.content == "VM is locked (clone)"
    # Pool membership is added at the end of the clone, so the pool-scoped token cannot see it yet.
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").qemu(500).status.current.get()
    assert err.value.status_code == 403
    second = prox.nodes("pve1").qemu(9000).clone.post(newid=501, pool="tenants", full=1)
    status = prox.nodes("pve1").tasks(second).status.get()
    assert status["exitstatus"] == "can't lock file '/var/lock/qemu-server/lock-9000.conf' - got timeout"
    assert prox.nodes("pve1").tasks(upid).status.get()["status"] == "running"


def test_ticket_login_with_password(live, live_backend) -> None:
    server, _ = live
    prox = ProxmoxAPI("127.0.0.1", port=server.port, user="root@pam", password="simpass", verify_ssl=False)
    wait(prox, prox.nodes("pve1").qemu(9000).clone.post(newid=600, name="by-ticket"))
    assert prox.nodes("pve1").qemu(600).config.get()["name"] == "by-ticket"


def test_injected_error_and_failing_task(live, prox_admin: ProxmoxAPI) -> None:
    server, _ = live
    base = server.url + "/_sim/faults"
    requests.post(
        base,
        json={
            "rules": [{"path": "^/version$", "error_rate": 1.0, "message": "boom"}],
            "failing_tasks": {"qmstart": "start failed: injected"},
        },
        verify=False,
        timeout=5,
    )
    with pytest.raises(ResourceException) as err:
        prox_admin.version.get()
    assert err.value.content == "boom"
    wait(prox_admin, prox_admin.nodes("pve1").qemu(9000).clone.post(newid=700))
    status = wait(prox_admin, prox_admin.nodes("pve1").qemu(700).status.start.post())
    assert status["exitstatus"] == "start failed: injected"
    requests.delete(base, verify=False, timeout=5)
    assert prox_admin.version.get()["release"] == "9.0"


def test_offline_node_and_dropped_connection(live, prox_admin: ProxmoxAPI) -> None:
    server, _ = live
    base = server.url + "/_sim/faults"
    requests.post(base, json={"offline_nodes": ["pve2"]}, verify=False, timeout=5)
    with pytest.raises(ResourceException) as err:
        prox_admin.nodes("pve2").status.get()
    assert err.value.status_code == 595
    requests.post(base, json={"rules": [{"path": "^/nodes$", "drop_rate": 1.0}]}, verify=False, timeout=5)
    with pytest.raises(requests.exceptions.ConnectionError):
        prox_admin.nodes.get()
    requests.delete(base, verify=False, timeout=5)


def test_speed_changeable_at_run_time(live, prox_admin: ProxmoxAPI) -> None:
    server, _ = live
    requests.post(server.url + "/_sim/speed", json={"speed": 0.05}, verify=False, timeout=5)
    upid = prox_admin.nodes("pve1").qemu(9000).clone.post(newid=800)
    assert prox_admin.nodes("pve1").tasks(upid).status.get()["status"] == "running"
    time.sleep(0.2)
    assert prox_admin.nodes("pve1").tasks(upid).status.get()["exitstatus"] == "OK"
