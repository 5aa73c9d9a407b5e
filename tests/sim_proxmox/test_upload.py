"""Uploads through real proxmoxer (multipart, as pveproxy takes them): an imgcopy task, then the volume
is in the storage's content (issue 12, item 6)."""

from __future__ import annotations

import hashlib
import io
import urllib.parse
from pathlib import Path

import pytest
from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks

from sim.proxmox.backend import Backend

IMAGE = b"\x00CD001 simulated install medium\n" * 512


def _file(tmp_path: Path, name: str, data: bytes = IMAGE) -> io.BufferedReader:
    path = tmp_path / name
    path.write_bytes(data)
    return path.open("rb")


def _wait(prox: ProxmoxAPI, upid: str) -> dict:
    status = Tasks.blocking_status(prox, upid, timeout=10, polling_interval=0.05)
    assert status is not None
    return status


def test_an_uploaded_iso_appears_in_the_storage_content(prox_admin: ProxmoxAPI, tmp_path: Path) -> None:
    storage = prox_admin.nodes("pve1").storage("local")
    with _file(tmp_path, "debian 13.iso") as fh:
        upid = storage.upload.post(content="iso", filename=fh)
    status = _wait(prox_admin, upid)
    assert ":imgcopy:" in upid and status["exitstatus"] == "OK"
    isos = {v["volid"]: v for v in storage.content.get(content="iso")}
    assert isos["local:iso/debian_13.iso"]["size"] == len(IMAGE), "the name is sanitised as PVE does"


def test_a_checksum_is_verified_by_the_task(prox_admin: ProxmoxAPI, tmp_path: Path) -> None:
    storage = prox_admin.nodes("pve1").storage("local")
    good = hashlib.sha256(IMAGE).hexdigest()
    with _file(tmp_path, "good.iso") as fh:
        ok = storage.upload.post(content="iso", filename=fh, checksum=good, **{"checksum-algorithm": "sha256"})
    assert _wait(prox_admin, ok)["exitstatus"] == "OK"
    with _file(tmp_path, "bad.iso") as fh:
        bad = storage.upload.post(content="iso", filename=fh, checksum="0" * 64, **{"checksum-algorithm": "sha256"})
    assert _wait(prox_admin, bad)["exitstatus"].startswith("checksum mismatch")
    assert "local:iso/bad.iso" not in {v["volid"] for v in storage.content.get()}


def test_wrong_extensions_contents_and_storages_are_refused(prox_admin: ProxmoxAPI, tmp_path: Path) -> None:
    node = prox_admin.nodes("pve1")
    with _file(tmp_path, "setup.exe") as fh, pytest.raises(ResourceException, match="wrong file extension"):
        node.storage("local").upload.post(content="iso", filename=fh)
    with _file(tmp_path, "disk.iso") as fh, pytest.raises(ResourceException, match="does not support 'iso'"):
        node.storage("local-lvm").upload.post(content="iso", filename=fh)


def test_uploading_needs_allocate_template(prox: ProxmoxAPI, tmp_path: Path, live_backend: Backend) -> None:
    with _file(tmp_path, "x.iso") as fh, pytest.raises(ResourceException) as denied:
        prox.nodes("pve1").storage("local").upload.post(content="iso", filename=fh)
    assert denied.value.status_code == 403 and "Datastore.AllocateTemplate" in str(denied.value)
    assert live_backend.uploads == {}, "a refused upload leaves nothing spooled"


def test_storage_definitions_are_created_changed_and_removed(prox_admin: ProxmoxAPI, prox: ProxmoxAPI) -> None:
    created = prox_admin.storage.post(storage="isos", type="dir", path="/mnt/isos", content="iso,vztmpl")
    assert created == {"storage": "isos", "type": "dir"}
    assert prox_admin.storage("isos").get()["content"] == "iso,vztmpl"
    with pytest.raises(ResourceException, match="already defined"):
        prox_admin.storage.post(storage="isos", type="dir", path="/mnt/other")
    digest = prox_admin.storage("isos").get()["digest"]
    prox_admin.storage("isos").put(content="iso", nodes="pve1", digest=digest)
    assert (prox_admin.storage("isos").get()["content"], prox_admin.storage("isos").get()["nodes"]) == ("iso", "pve1")
    with pytest.raises(ResourceException, match="modified configuration"):
        prox_admin.storage("isos").put(content="iso,backup", digest=digest)
    with pytest.raises(ResourceException) as denied:
        prox.storage("isos").delete()
    assert denied.value.status_code == 403
    prox_admin.storage("isos").delete()
    assert "isos" not in {s["storage"] for s in prox_admin.storage.get()}


def test_an_unused_volume_is_deleted_by_a_task(prox_admin: ProxmoxAPI, tmp_path: Path) -> None:
    storage = prox_admin.nodes("pve1").storage("local")
    with _file(tmp_path, "old.iso") as fh:
        _wait(prox_admin, storage.upload.post(content="iso", filename=fh))
    upid = storage.content(urllib.parse.quote("local:iso/old.iso", safe="")).delete()  # a '/' must be encoded
    assert ":imgdel:" in upid and _wait(prox_admin, upid)["exitstatus"] == "OK"
    assert "local:iso/old.iso" not in {v["volid"] for v in storage.content.get()}
    disk = next(
        v["volid"] for v in prox_admin.nodes("pve1").storage("local-lvm").content.get() if v.get("vmid") == 9000
    )
    with pytest.raises(ResourceException, match="in use"):
        prox_admin.nodes("pve1").storage("local-lvm").content(disk).delete()
