"""VM snapshots (mixed into the Backend), as qemu-server keeps them: named sections of the VM's config,
chained by ``parent``, taken, removed and rolled back by worker tasks under a VM lock.

Snapshots hold configuration only: disk contents are not modelled, so a rollback restores the config
(and the power state when the snapshot saved the RAM, ``vmstate``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from . import exceptions as E
from .core import BackendCore
from .entities import Vm

SNAPSHOT_STORAGE_TYPES = {"rbd", "lvmthin", "zfspool"}
"""Storage types whose volumes can be snapshot (raw files on a directory storage cannot)."""
SKIPPED_KEYS = ("lock", "parent", "pending", "snapshots")


class SnapshotMixin(BackendCore):
    """Snapshot list, create, delete, rollback and config; expects the Backend's helpers."""

    if TYPE_CHECKING:
        # Provided by PowerMixin, Backend's sibling mixin; declared for the type checker only.
        def _boot(self, vm: Vm) -> None: ...

        def _halt(self, vm: Vm) -> None: ...

    def snapshot_list(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """GET …/snapshot: every snapshot, then the ``current`` pseudo-entry ("You are here!")."""
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            out = [
                {k: v for k, v in _entry(name, snap).items() if v is not None}
                for name, snap in sorted(vm.snapshots.items(), key=lambda kv: kv[1]["snaptime"])
            ]
            current: dict[str, Any] = {
                "name": "current",
                "description": "You are here!",
                "digest": vm.digest(),
                "running": int(vm.status == "running"),
            }
            if vm.config.get("parent"):
                current["parent"] = vm.config["parent"]
            return [*out, current]

    def snapshot(self, vm: Vm, name: str) -> dict[str, Any]:
        """A snapshot of ``vm``, or PVE's error."""
        snap = vm.snapshots.get(name)
        if snap is None:
            raise E.HandlerError(f"snapshot '{name}' does not exist")
        return snap

    def _unlocked_snapshot(self, node: str, vmid: int, name: str) -> tuple[Vm, dict[str, Any]]:
        """The VM (refused while locked) and its snapshot ``name``; call with the lock held."""
        self.tick()
        vm = self.vm(node, vmid)
        if vm.lock:
            raise E.locked(vm.lock)
        return vm, self.snapshot(vm, name)

    def snapshot_create(
        self, node: str, vmid: int, name: str, user: str, vmstate: bool = False, description: str = ""
    ) -> str:
        """POST …/snapshot: a ``qmsnapshot`` task holding the ``snapshot`` lock."""
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.lock:
                raise E.locked(vm.lock)
            if name == "current":
                raise E.param_error("snapname", "invalid format - snapshot name 'current' is reserved")
            if vm.is_template:
                raise E.HandlerError("you can't take a snapshot if it's a template")
            if name in vm.snapshots:
                raise E.HandlerError(f"snapshot name '{name}' already used")
            for key, drive in self.disks(vm).items():
                sid = drive["file"].split(":", 1)[0]
                if self.storages[sid].type not in SNAPSHOT_STORAGE_TYPES:
                    raise E.HandlerError(f"snapshot feature is not available for '{key}' ('{drive['file']}')")
            running = vm.status == "running"
            vm.config["lock"] = "snapshot"
            snap: dict[str, Any] = {
                "config": {k: copy.deepcopy(v) for k, v in vm.config.items() if k not in SKIPPED_KEYS},
                "parent": vm.config.get("parent"),
                "snaptime": int(self.clock()),
                "description": description,
                "vmstate": bool(vmstate and running),
                "was_running": running,
            }

            def finish() -> None:
                vm.snapshots[name] = snap
                vm.config["parent"] = name
                vm.config.pop("lock", None)

            log = [f"snapshotting '{k}' ({d['file']})" for k, d in self.disks(vm).items()]
            if snap["vmstate"]:
                log.insert(0, "saving VM state and RAM")
            duration = self.settings.durations.get("qmsnapshot")
            return self.start_task(node, "qmsnapshot", str(vmid), user, duration, finish, log)

    def snapshot_delete(self, node: str, vmid: int, name: str, user: str, force: bool = False) -> str:
        """DELETE …/snapshot/{name}: a ``qmdelsnapshot`` task; children are re-parented."""
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.lock and not force:
                raise E.locked(vm.lock)
            snap = self.snapshot(vm, name)
            vm.config["lock"] = "snapshot-delete"

            def finish() -> None:
                vm.snapshots.pop(name, None)
                for other in vm.snapshots.values():
                    if other["parent"] == name:
                        other["parent"] = snap["parent"]
                if vm.config.get("parent") == name:
                    if snap["parent"]:
                        vm.config["parent"] = snap["parent"]
                    else:
                        vm.config.pop("parent", None)
                vm.config.pop("lock", None)

            duration = self.settings.durations.get("qmdelsnapshot")
            return self.start_task(node, "qmdelsnapshot", str(vmid), user, duration, finish)

    def snapshot_rollback(self, node: str, vmid: int, name: str, user: str, start: bool = False) -> str:
        """POST …/snapshot/{name}/rollback: a ``qmrollback`` task; the VM stops, takes the snapshot's
        config and runs again when the snapshot saved its RAM (or ``start`` asks)."""
        with self.lock:
            vm, snap = self._unlocked_snapshot(node, vmid, name)
            vm.config["lock"] = "rollback"

            def finish() -> None:
                vm.config = copy.deepcopy(snap["config"])
                vm.config["parent"] = name
                vm.pending.clear()
                vm.pending_delete.clear()
                self._halt(vm)
                if snap["vmstate"] or start:
                    self._boot(vm)

            duration = self.settings.durations.get("qmrollback")
            return self.start_task(node, "qmrollback", str(vmid), user, duration, finish)

    def snapshot_config(self, node: str, vmid: int, name: str) -> dict[str, Any]:
        """GET …/snapshot/{name}/config: the configuration the snapshot holds."""
        with self.lock:
            self.tick()
            snap = self.snapshot(self.vm(node, vmid), name)
            out = {k: v for k, v in _entry(name, snap).items() if v is not None and k != "name"}
            return {**copy.deepcopy(snap["config"]), **out}

    def snapshot_update(self, node: str, vmid: int, name: str, description: str | None) -> None:
        """PUT …/snapshot/{name}/config: only the description can change."""
        with self.lock:
            _vm, snap = self._unlocked_snapshot(node, vmid, name)
            if description is not None:
                snap["description"] = description


def _entry(name: str, snap: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "description": snap["description"],
        "snaptime": snap["snaptime"],
        "vmstate": int(snap["vmstate"]),
        "parent": snap["parent"],
    }
