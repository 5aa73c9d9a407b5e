"""Containers through real proxmoxer against the live simulator: clone, create, config with pending
changes, power, interfaces, firewall, migrate, destroy; schema errors and permission refusals."""

from __future__ import annotations

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from sim.proxmox.backend import Backend
from sim.proxmox.seed import LXC_OSTEMPLATE, LXC_TEMPLATE_VMID
from sim.world import GUEST_KEYS

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx7 tenant@example"


def wait(prox: ProxmoxAPI, upid: str) -> dict:
    status = Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)
    assert status is not None
    return status


def clone_ct(prox: ProxmoxAPI, vmid: int, **extra: object) -> None:
    upid = prox.nodes("pve1").lxc(LXC_TEMPLATE_VMID).clone.post(newid=vmid, hostname="t1", pool="tenants", **extra)
    assert wait(prox, upid)["exitstatus"] == "OK"
    assert upid.split(":")[5] == "vzclone"


def test_clone_config_start_interfaces_destroy_with_least_privilege_token(
    prox: ProxmoxAPI, live_backend: Backend
) -> None:
    vmid = int(prox.cluster.nextid.get())
    clone_ct(prox, vmid)
    ct = prox.nodes("pve1").lxc(vmid)
    cfg = ct.config.get()
    # The clone inherits the template's features and unprivileged flag: no root-only change was needed.
    assert (cfg["features"], cfg["unprivileged"], cfg["hostname"]) == ("keyctl=1,nesting=1", 1, "t1")
    assert cfg["rootfs"].startswith(f"local-lvm:vm-{vmid}-disk-0")
    ct.config.put(cores=2, memory=4096, net0="name=eth0,bridge=vmbr0,ip=10.20.0.7/24,gw=10.20.0.1", tags="t1;lxc")
    assert wait(prox, ct.resize.put(disk="rootfs", size="20G"))["exitstatus"] == "OK"
    assert "size=20G" in ct.config.get()["rootfs"]
    start = ct.status.start.post()
    assert start.split(":")[5] == "vzstart" and wait(prox, start)["exitstatus"] == "OK"
    assert ct.status.current.get()["status"] == "running"
    eth0 = next(i for i in ct.interfaces.get() if i["name"] == "eth0")
    assert eth0["inet"] == "10.20.0.7/24"
    assert {r["type"] for r in prox.cluster.resources.get(type="vm") if r["vmid"] == vmid} == {"lxc"}
    assert wait(prox, ct.status.shutdown.post())["exitstatus"] == "OK"
    destroy = ct.delete()
    assert destroy.split(":")[5] == "vzdestroy" and wait(prox, destroy)["exitstatus"] == "OK"
    assert vmid not in live_backend.vms
    assert not [v for v in live_backend.volumes.values() if v.vmid == vmid]


def test_pending_until_restart_for_cold_keys_hot_ones_apply_at_once(prox: ProxmoxAPI) -> None:
    vmid = 700
    clone_ct(prox, vmid)
    ct = prox.nodes("pve1").lxc(vmid)
    wait(prox, ct.status.start.post())
    ct.config.put(memory=3072, nameserver="1.1.1.1")
    current = ct.config.get(current=1)
    assert current["memory"] == 3072 and "nameserver" not in current
    assert {p["key"]: p.get("pending") for p in ct.pending.get() if "pending" in p} == {"nameserver": "1.1.1.1"}
    wait(prox, ct.status.stop.post())
    wait(prox, ct.status.start.post())
    assert ct.config.get(current=1)["nameserver"] == "1.1.1.1"


def test_create_from_archive_writes_ssh_keys_and_nesting_only(prox: ProxmoxAPI, live_backend: Backend) -> None:
    upid = prox.nodes("pve1").lxc.post(
        vmid=710,
        ostemplate=LXC_OSTEMPLATE,
        hostname="made",
        pool="tenants",
        unprivileged=1,
        features="nesting=1",
        rootfs="local-lvm:8",
        net0="name=eth0,bridge=vmbr0,ip=10.20.0.8/24,gw=10.20.0.1",
        **{"ssh-public-keys": KEY},
    )
    assert upid.split(":")[5] == "vzcreate" and wait(prox, upid)["exitstatus"] == "OK"
    wait(prox, prox.nodes("pve1").lxc(710).status.start.post())
    guest = next(g for g in live_backend.world_guests() if g["vmid"] == 710)
    assert (guest["addresses"], guest["ssh_keys"], guest["ciuser"]) == (["10.20.0.8"], [KEY], "root")


def test_keyctl_is_root_only_as_in_pve(prox: ProxmoxAPI) -> None:
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc.post(
            vmid=711, ostemplate=LXC_OSTEMPLATE, pool="tenants", unprivileged=1, features="nesting=1,keyctl=1"
        )
    assert err.value.status_code == 403
    assert "changing feature flags (except nesting) is only allowed for root@pam" in err.value.content


def test_ssh_keys_are_not_a_config_option(prox: ProxmoxAPI) -> None:
    """PUT …/config has no ``ssh-public-keys`` (only create does): the schema refuses it, as PVE does."""
    clone_ct(prox, 712)
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc(712).config.put(**{"ssh-public-keys": KEY})
    assert err.value.status_code == 400 and "ssh-public-keys" in str(err.value.errors)


def test_schema_errors_and_missing_container(prox: ProxmoxAPI) -> None:
    clone_ct(prox, 713)
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc(713).config.put(cores="many")
    assert err.value.status_code == 400 and "cores" in str(err.value.errors)
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc(713).config.put(rootfs="local-lvm:vm-999-disk-0")
    assert "read-only option: 'rootfs'" in err.value.content
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").qemu(713).config.get()
    assert "qemu-server/713.conf' does not exist" in err.value.content


def test_token_refused_outside_its_pool_and_on_privileged_features(prox: ProxmoxAPI, prox_admin: ProxmoxAPI) -> None:
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc(LXC_TEMPLATE_VMID).clone.post(newid=714)
    assert err.value.status_code == 403
    wait(prox_admin, prox_admin.nodes("pve1").lxc(LXC_TEMPLATE_VMID).clone.post(newid=715))
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc(715).status.start.post()
    assert err.value.status_code == 403
    clone_ct(prox, 716)
    with pytest.raises(ResourceException) as err:
        prox.nodes("pve1").lxc(716).config.put(features="nesting=1,keyctl=1,fuse=1")
    assert "except nesting" in err.value.content


def test_firewall_and_ip_filter_on_ct_paths(prox: ProxmoxAPI, live_backend: Backend) -> None:
    clone_ct(prox, 720)
    fw = prox.nodes("pve1").lxc(720).firewall
    fw.options.put(enable=1, ipfilter=1, policy_in="DROP")
    fw.ipset.post(name="ipfilter-net0")
    fw.ipset("ipfilter-net0").post(cidr="10.20.0.9")
    fw.rules.post(type="in", action="ACCEPT", proto="tcp", dport="22", enable=1)
    assert fw.options.get()["ipfilter"] == 1
    assert [e["cidr"] for e in fw.ipset("ipfilter-net0").get()] == ["10.20.0.9"]
    assert live_backend.vms[720].firewall["rules"][0]["dport"] == "22"


def test_running_ct_migrates_only_with_restart(prox_admin: ProxmoxAPI, live_backend: Backend) -> None:
    clone_ct(prox_admin, 730)
    ct = prox_admin.nodes("pve1").lxc(730)
    ct.config.put(net0="name=eth0,bridge=vmbr0,ip=10.20.0.10/24")
    wait(prox_admin, ct.status.start.post())
    with pytest.raises(ResourceException) as err:
        ct.migrate.post(target="pve2")
    assert "live migration" in err.value.content
    upid = ct.migrate.post(target="pve2", restart=1)
    assert upid.split(":")[5] == "vzmigrate" and wait(prox_admin, upid)["exitstatus"] == "OK"
    moved = live_backend.vms[730]
    assert (moved.node, moved.status) == ("pve2", "running")
    assert prox_admin.nodes("pve2").lxc(730).status.current.get()["status"] == "running"


def test_world_lists_containers_with_address_and_rootfs_keys(backend: Backend) -> None:
    """The shared world (what the Dokploy simulator's SSH check reads) shows a container like a VM: its
    address, root as the login user, the keys in its rootfs; a clone of it carries the same keys."""
    params = {
        "ostemplate": LXC_OSTEMPLATE,
        "rootfs": "local-lvm:8",
        "hostname": "base",
        "net0": "name=eth0,bridge=vmbr0,ip=10.9.0.20/24",
        "ssh-public-keys": KEY,
    }
    backend.ct_create("pve1", 750, params, "root@pam")
    backend.ct_template("pve1", 750, "root@pam")
    backend.ct_clone("pve1", 750, 751, "root@pam", hostname="copy")
    backend.ct_update_config("pve1", 751, {"net0": "name=eth0,bridge=vmbr0,ip=10.9.0.21/24"})
    assert [g["vmid"] for g in backend.world_guests() if g["vmid"] in (750, 751)] == [751]  # templates are not
    backend.ct_power("pve1", 751, "start", "root@pam")
    guest = next(g for g in backend.world_guests() if g["vmid"] == 751)
    assert set(guest) == set(GUEST_KEYS)
    assert (guest["addresses"], guest["ssh_keys"], guest["ciuser"], guest["status"], guest["agent_ready"]) == (
        ["10.9.0.21"],
        [KEY],
        "root",
        "running",
        False,
    )


def test_vzdump_archives_a_container_as_tar_with_its_rootfs_files(
    prox_admin: ProxmoxAPI, live_backend: Backend
) -> None:
    """vzdump of a CT (what a plan's backup job and decommission's archive run): a ``vzdump-lxc`` tar archive
    holding the rootfs' files, listed with subtype ``lxc``."""
    prox = prox_admin
    clone_ct(prox, 740)
    rootfs = live_backend.ct_rootfs_volume(live_backend.vms[740])
    rootfs.files["/root/marker"] = "tenant 740"
    upid = prox.nodes("pve1").vzdump.post(vmid=740, storage="nfs-backup", compress="zstd", mode="snapshot")
    assert wait(prox, upid)["exitstatus"] == "OK"
    backups = [v for v in live_backend.volumes.values() if v.content == "backup" and v.vmid == 740]
    assert len(backups) == 1 and "/vzdump-lxc-740-" in backups[0].volid and backups[0].volid.endswith(".tar.zst")
    assert backups[0].archive is not None and backups[0].archive["disks"]["rootfs"] == {"/root/marker": "tenant 740"}
    listed = live_backend.storage_content("pve1", "nfs-backup", "backup")
    assert [item["subtype"] for item in listed if item.get("vmid") == 740] == ["lxc"]
