"""The state backend of the Proxmox simulator: no web imports, typed errors only.

``Backend`` is ``BackendCore`` (state, building blocks, tasks) plus one mixin per area of the API.
"""

from __future__ import annotations

import json
from typing import Any

from .backups import BackupMixin
from .core import Settings, SimClock
from .entities import Node, Pool, Storage, Vm, Volume
from .extras import ExtrasMixin
from .lifecycle import LifecycleMixin
from .lxc import LxcMixin
from .power import PowerMixin
from .qemu import QemuMixin
from .snapshots import SnapshotMixin
from .storage_config import StorageConfigMixin
from .uploads import UploadMixin

__all__ = ["Backend", "Settings"]


class Backend(
    BackupMixin,
    QemuMixin,
    LxcMixin,
    LifecycleMixin,
    PowerMixin,
    ExtrasMixin,
    SnapshotMixin,
    UploadMixin,
    StorageConfigMixin,
):
    """The whole simulated cluster. All public methods are thread-safe."""

    # --- persistence -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        with self.lock:
            self.tick()
            return {
                "nodes": [n.to_json() for n in self.nodes.values()],
                "storages": [s.to_json() for s in self.storages.values()],
                "volumes": [v.to_json() for v in self.volumes.values()],
                "vms": [v.to_json() for v in self.vms.values()],
                "pools": [p.to_json() for p in self.pools.values()],
                "leases": self.leases,
                "jobs": self.jobs,
                "job_last_run": self.job_last_run,
                "access": self.access.to_json(),
                "pid": self._pid,
                "clock_offset": getattr(self.clock, "offset", 0.0),
            }

    def load_json(self, data: dict[str, Any]) -> None:
        """Restore a state; running tasks are not persisted (their effects are)."""
        with self.lock:
            self.reset()
            self.usage.clear()
            self.nodes = {n["name"]: Node(**n) for n in data["nodes"]}
            self.storages = {s["sid"]: Storage(**s) for s in data["storages"]}
            for v in data["volumes"]:
                vol = Volume(**v)
                self.volumes[(vol.node, vol.volid)] = vol
            self.vms = {v["vmid"]: Vm(**v) for v in data["vms"]}
            self.pools = {p["poolid"]: Pool(**p) for p in data["pools"]}
            self.leases = dict(data["leases"])
            self.jobs = dict(data.get("jobs", {}))
            self.job_last_run = {k: float(v) for k, v in data.get("job_last_run", {}).items()}
            self.access.load_json(data["access"])
            self._pid = data.get("pid", self._pid)
            if isinstance(self.clock, SimClock):
                self.clock.offset = float(data.get("clock_offset", 0.0))

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh)

    def load(self, path: str) -> None:
        with open(path, encoding="utf-8") as fh:
            self.load_json(json.load(fh))
