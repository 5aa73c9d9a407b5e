"""Deviations an independent client found, fixed as real PVE behaves (issue 12), through real proxmoxer."""

from __future__ import annotations

import re

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from sim.proxmox.backend import Backend

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _clone(prox: ProxmoxAPI, **params: object) -> int:
    vmid = int(prox.cluster.nextid.get())
    upid = prox.nodes("pve1").qemu(9000).clone.post(newid=vmid, pool="tenants", **params)
    status = Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)
    assert status is not None and status["exitstatus"] == "OK", status
    return vmid


def test_storage_config_is_readable_by_id(prox_admin: ProxmoxAPI, live_backend: Backend) -> None:
    listed = {s["storage"]: s for s in prox_admin.storage.get()}
    one = prox_admin.storage("cephpool").get()
    assert one == listed["cephpool"]
    assert (one["type"], one["shared"], one["content"]) == ("rbd", 1, "images,rootdir")
    assert re.fullmatch(r"[0-9a-f]{40}", one["digest"])
    with pytest.raises(ResourceException, match="does not exist"):
        prox_admin.storage("nosuch").get()


def test_storage_config_needs_datastore_allocate(prox: ProxmoxAPI) -> None:
    with pytest.raises(ResourceException) as denied:
        prox.storage("local-lvm").get()
    assert denied.value.status_code == 403


def test_a_full_clone_puts_every_drive_on_the_requested_storage(prox: ProxmoxAPI, live_backend: Backend) -> None:
    vmid = _clone(prox, full=1, storage="cephpool")
    cfg = prox.nodes("pve1").qemu(vmid).config.get()
    drives = {k: v for k, v in cfg.items() if re.fullmatch(r"(scsi|virtio|sata|ide)\d+", k)}
    assert any("cloudinit" in v for v in drives.values()), drives
    assert all(v.startswith("cephpool:") for v in drives.values()), drives


def test_a_clone_gets_dashed_uuids_and_keeps_the_other_smbios_fields(prox: ProxmoxAPI, live_backend: Backend) -> None:
    template = live_backend.vms[9000]
    template.config["smbios1"] = "uuid=0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9,manufacturer=U2lt,base64=1"
    vmid = _clone(prox, full=1)
    cfg = prox.nodes("pve1").qemu(vmid).config.get()
    smbios = dict(part.split("=", 1) for part in cfg["smbios1"].split(","))
    assert UUID.match(smbios["uuid"]) and smbios["uuid"] != "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    assert (smbios["manufacturer"], smbios["base64"]) == ("U2lt", "1")
    assert UUID.match(cfg["vmgenid"]) and cfg["vmgenid"] != template.config["vmgenid"]


def test_tags_are_split_lower_cased_deduplicated_and_sorted(prox: ProxmoxAPI, live_backend: Backend) -> None:
    vmid = _clone(prox, full=1)
    vm = prox.nodes("pve1").qemu(vmid)
    vm.config.put(tags="zeta,Ansible ansible;beta")
    assert vm.config.get()["tags"] == "ansible;beta;zeta"
    with pytest.raises(ResourceException) as bad:
        vm.config.put(tags="ok;no/slash")
    assert bad.value.status_code == 400 and "tags" in str(bad.value)


def test_tags_are_normalised_with_a_ticket_too(live, live_backend: Backend) -> None:
    server, _ = live
    prox = ProxmoxAPI("127.0.0.1", port=server.port, user="svc@pve", password="simpass", verify_ssl=False)
    vmid = _clone(prox, full=1)
    prox.nodes("pve1").qemu(vmid).config.post(tags="B;a;b")
    assert prox.nodes("pve1").qemu(vmid).config.get()["tags"] == "a;b"


def test_task_list_and_status_split_a_tokens_id_alike(prox: ProxmoxAPI, live_backend: Backend) -> None:
    """pve-manager's Tasks.pm converts ``user@realm!token`` to ``user`` + ``tokenid`` for the status and
    for every finished task in the list (``$convert_token_task``)."""
    vmid = _clone(prox, full=1)
    node = prox.nodes("pve1")
    listed = next(t for t in node.tasks.get(vmid=9000, typefilter="qmclone") if t["id"] == "9000")
    status = node.tasks(listed["upid"]).status.get()
    owner = live_backend.tasks[listed["upid"]].user
    user, token = owner.split("!")
    assert (listed["user"], listed["tokenid"]) == (status["user"], status["tokenid"]) == (user, token)
    assert vmid in live_backend.vms
