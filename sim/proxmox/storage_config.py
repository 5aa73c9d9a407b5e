"""Storage configuration writes and volume removal (mixed into the Backend), as pve-storage's API:
``POST /storage``, ``PUT``/``DELETE /storage/{storage}`` edit storage.cfg (the schema checks
Datastore.Allocate on /storage); ``DELETE …/content/{volume}`` frees a volume with an ``imgdel`` task."""

from __future__ import annotations

from typing import Any

from . import exceptions as E
from . import propstr as P
from .core import BackendCore
from .entities import GiB, Storage

SIZES = {"dir": 100 * GiB, "lvmthin": 500 * GiB, "rbd": 2048 * GiB, "nfs": 1024 * GiB, "zfspool": 500 * GiB}
"""Capacity a newly defined storage reports, by type (the simulator has no disks behind it)."""
SHARED_TYPES = {"rbd", "nfs", "cephfs", "cifs", "pbs"}
DEFAULT_CONTENT = {"dir": ["iso", "vztmpl", "backup"], "nfs": ["images"], "lvmthin": ["images", "rootdir"]}


class StorageConfigMixin(BackendCore):
    """storage.cfg writes and volume deletion."""

    def storage_create(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.tick()
            sid, stype = str(params["storage"]), str(params["type"])
            if sid in self.storages:
                raise E.HandlerError(f"create storage failed: storage ID '{sid}' already defined")
            if stype not in SIZES:
                raise E.param_error("type", f"simulator: storage type '{stype}' is not modelled ({', '.join(SIZES)})")
            if stype == "dir" and not params.get("path"):  # other types derive theirs (e.g. /mnt/pve/<id>)
                raise E.param_error("path", "property is missing and it is not optional")
            content = _content(params.get("content")) or DEFAULT_CONTENT.get(stype, ["images"])
            self.storages[sid] = Storage(
                sid,
                stype,
                content,
                SIZES[stype],
                shared=stype in SHARED_TYPES or bool(params.get("shared")),
                nodes=_content(params.get("nodes")) or None,
                path=params.get("path"),
            )
            return {"storage": sid, "type": stype}

    def storage_update(self, sid: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.tick()
            st = self.storage(sid)
            if params.get("digest") and params["digest"] != self.storage_digest():
                raise E.HandlerError("detected modified configuration - file changed by other user? Try again.")
            for key in _content(params.get("delete")):
                if key == "nodes":
                    st.nodes = None
                elif key == "content":
                    raise E.param_error("delete", "unable to delete required option 'content'")
            if params.get("content") is not None:
                st.content = _content(params["content"])
            if params.get("nodes") is not None:
                st.nodes = _content(params["nodes"]) or None
            return {"storage": sid, "type": st.type}

    def storage_delete(self, sid: str) -> None:
        with self.lock:
            self.tick()
            self.storage(sid)
            del self.storages[sid]  # like PVE: the volumes stay where they are, no longer reachable

    def volume_delete(self, node: str, sid: str, volume: str, user: str) -> str:
        """Free a volume that no VM uses (an ``imgdel`` task)."""
        with self.lock:
            self.tick()
            self.storage(sid, self.node(node).name)
            volid = volume if ":" in volume else f"{sid}:{volume}"
            vol = self.volumes.get(self.vol_key(volid, node))
            if vol is None:
                raise E.HandlerError(f"volume '{volid}' does not exist")
            users = [
                vm.vmid
                for vm in self.vms.values()
                if any(P.is_disk_key(k) and P.parse_drive(str(v))["file"] == volid for k, v in vm.config.items())
            ]
            if users:
                raise E.HandlerError(f"unable to delete volume '{volid}' - still in use by VM {users[0]}")
            if vol.protected:
                raise E.HandlerError(f"cannot remove protected archive '{volid}'")

            def finish() -> None:
                self.free_volume(volid, node)

            return self.start_task(node, "imgdel", "", user, self.settings.durations.get("imgdel"), finish)

    def volume_owner(self, node: str, sid: str, volume: str) -> tuple[str, int | None, str] | None:
        """(content, vmid, volid) of a volume, for the permission check; None when it does not exist."""
        volid = volume if ":" in volume else f"{sid}:{volume}"
        vol = self.volumes.get(self.vol_key(volid, node))
        return None if vol is None else (vol.content, vol.vmid, volid)


def _content(value: Any) -> list[str]:
    return [v for v in str(value or "").replace(";", ",").split(",") if v]
