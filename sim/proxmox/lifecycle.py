"""Clone, template conversion, destroy and migrate (mixed into the Backend)."""

from __future__ import annotations

import copy
import re
from typing import Any

from . import exceptions as E
from . import propstr as P
from .core import BackendCore
from .entities import GiB, Vm


class LifecycleMixin(BackendCore):
    """Whole-VM operations that run as tasks."""

    def clone(
        self,
        node: str,
        vmid: int,
        newid: int,
        user: str,
        name: str | None = None,
        full: bool | None = None,
        pool: str | None = None,
        storage: str | None = None,
        target: str | None = None,
        description: str | None = None,
        snapname: str | None = None,
    ) -> str:
        """POST …/clone: checks before the fork fail the call; the copy fails the task. With ``snapname``
        the clone is made from that snapshot's configuration."""
        with self.lock:
            self.tick()
            self.node(node)
            src = self.vms.get(vmid)
            if src is None or src.node != node or src.kind != "qemu":
                raise E.HandlerError(f"unable to find configuration file for VM {vmid} on node '{node}'")
            if src.lock:
                raise E.locked(src.lock)
            if snapname is not None and snapname not in src.snapshots:
                raise E.HandlerError(f"snapshot '{snapname}' does not exist")
            full = (not src.is_template) if full is None else (bool(full) or not src.is_template)
            if storage and not full:
                raise E.HandlerError("parameter 'storage' not allowed for linked clones")
            if pool and pool not in self.pools:
                raise E.HandlerError(f"pool '{pool}' does not exist")
            dest = target or node
            self.node(dest)
            if dest != node and self.uses_local_storage(src):
                raise E.HandlerError(f"can't clone VM to node '{dest}' (VM uses local storage)")
            existing = self.vms.get(newid)
            if existing is not None and existing.node == node:
                raise E.HandlerError(f"unable to create VM {newid}: config file already exists")
            gib = sum([P.parse_size(d.get("size", "0"))[1] for d in self.disks(src).values()], 0) / GiB
            kind = "qmclone_full" if full else "qmclone"
            duration = self.settings.durations.get(kind, gib)
            tid, log = str(vmid), [f"create {'full' if full else 'linked'} clone of drive(s)"]
            if existing is not None:
                return self.failed_task(
                    node, "qmclone", tid, user, f"unable to create VM {newid}: config file already exists"
                )
            # Local-storage templates: copies serialise on the source's file lock (see README §locks).
            wait = self.settings.lock_wait["clone"]
            try:
                hold = duration if self.uses_local_storage(src) else 0.0
                delay = self.acquire_file_lock(vmid, self.clock() + hold, wait)
            except E.PveError as exc:
                return self.failed_task(node, "qmclone", tid, user, exc.message)
            new = Vm(newid, dest, {"lock": "clone"})
            self.vms[newid] = new
            try:
                source = src.snapshots[snapname]["config"] if snapname is not None else src.config
                config = self._copy_config(src, source, new, name, full, storage, description)
            except E.PveError as exc:
                self._drop_vm(new)
                return self.failed_task(node, "qmclone", tid, user, exc.message)

            def finish() -> None:
                new.config = config
                if pool:
                    self._pool_add(pool, newid)

            return self.start_task(node, "qmclone", tid, user, duration, finish, log, delay)

    def _copy_config(
        self,
        src: Vm,
        source: dict[str, Any],
        new: Vm,
        name: str | None,
        full: bool,
        storage: str | None,
        description: str | None,
    ) -> dict[str, Any]:
        """The clone's config from ``source`` (``src``'s config or one of its snapshots'); allocates its
        volumes (may raise storage full)."""
        cfg = {
            k: copy.deepcopy(v)
            for k, v in source.items()
            if k not in ("template", "lock", "parent", "snapshots") and not k.startswith("unused")
        }
        cfg["name"] = name or f"Copy-of-VM-{src.config.get('name', src.vmid)}"
        if description is not None:
            cfg["description"] = description
        for key, value in list(cfg.items()):
            if re.match(r"^net\d+$", key):
                net = P.parse_net(str(value))
                net["macaddr"] = self.random_mac()
                cfg[key] = P.dump_net(net)
            elif P.is_disk_key(key) and not (P.is_cdrom(str(value)) and not P.is_cloudinit(str(value))):
                cfg[key] = self._copy_drive(str(value), new, full, storage)
        # Like qemu-server's clone: a new SMBIOS uuid (the other smbios1 fields kept), and a new vmgenid when
        # the source has one that is not disabled ("0"); both dashed UUIDs, as the schema's patterns say.
        smbios = P.parse(str(cfg.get("smbios1", ""))) if cfg.get("smbios1") else {}
        smbios["uuid"] = self.new_uuid()
        cfg["smbios1"] = P.dump(smbios)
        if cfg.get("vmgenid") not in (None, "0", 0):
            cfg["vmgenid"] = self.new_uuid()
        return cfg

    def _copy_drive(self, value: str, new: Vm, full: bool, storage: str | None) -> str:
        drive = P.parse_drive(value)
        sid = P.volume_storage(drive["file"]) or "local-lvm"
        if P.is_cloudinit(value):  # a full clone puts every drive on the requested storage, this one too
            sid = storage if (full and storage) else sid
            volid = f"{sid}:vm-{new.vmid}-cloudinit"
            self.alloc_volume(sid, new.node, volid, 4 * 1024**2, new.vmid)
            return P.dump({"file": volid, "media": "cdrom"}, "file")
        size = P.parse_size(drive.get("size", "0"))[1]
        dest_sid = storage if (full and storage) else sid
        volid = self.next_disk_name(dest_sid, new.node, new.vmid)
        if not full and self.storages[sid].type != "lvmthin":
            # rbd/zfs/dir name a linked clone "<base>/<own>"; LVM-thin returns only the new LV's name.
            volid = f"{sid}:{drive['file'].split(':', 1)[1]}/{volid.split(':', 1)[1]}"
        copy = self.alloc_volume(dest_sid, new.node, volid, size if full else 0, new.vmid)
        source = self.volumes.get(self.vol_key(drive["file"], new.node))
        copy.files = dict(source.files) if source is not None else {}
        drive["file"] = volid
        return P.dump(drive, "file")

    def destroy(self, node: str, vmid: int, user: str, purge: bool = False) -> str:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.lock:
                raise E.locked(vm.lock)
            if vm.config.get("protection") in (1, "1"):
                raise E.HandlerError(f"can't remove VM {vmid} - protection mode enabled")
            if vm.status == "running":
                raise E.HandlerError(f"VM {vmid} is running - destroy failed")
            vm.config["lock"] = "destroyed"
            return self.start_task(
                node,
                "qmdestroy",
                str(vmid),
                user,
                self.settings.durations.get("qmdestroy"),
                lambda: self._drop_vm(vm),
                [f"destroying VM {vmid}"],
            )

    def template(self, node: str, vmid: int, user: str) -> str:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.lock:
                raise E.locked(vm.lock)
            if vm.is_template:
                raise E.HandlerError("you can't convert a template to a template")
            if vm.status == "running":
                raise E.HandlerError("you can't convert a VM to template if VM is running")
            if vm.snapshots:
                raise E.HandlerError("you can't convert a VM to template if VM has snapshots")

            def finish() -> None:
                for key, drive in self.disks(vm).items():
                    old = drive["file"]
                    vol = self.volumes.pop(self.vol_key(old, vm.node), None)
                    drive["file"] = old.replace(f"vm-{vmid}-disk", f"base-{vmid}-disk")
                    if vol is not None:
                        vol.volid = drive["file"]
                        self.volumes[self.vol_key(vol.volid, vm.node)] = vol
                    vm.config[key] = P.dump(drive, "file")
                vm.config["template"] = 1

            return self.start_task(
                node, "qmtemplate", str(vmid), user, self.settings.durations.get("qmtemplate"), finish
            )

    def migrate(
        self,
        node: str,
        vmid: int,
        target: str,
        user: str,
        online: bool = False,
        with_local_disks: bool = False,
        targetstorage: str | None = None,
    ) -> str:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            self.node(target)
            if vm.lock:
                raise E.locked(vm.lock)
            if target == node:
                raise E.HandlerError("target is local node.")
            if vm.status == "running" and not online:
                raise E.HandlerError("can't migrate running VM without --online")
            local = self.uses_local_storage(vm)
            if local and not with_local_disks:
                return self.failed_task(
                    node,
                    "qmigrate",
                    str(vmid),
                    user,
                    "can't migrate VM which uses local devices or storage without --with-local-disks",
                )
            vm.config["lock"] = "migrate"

            def finish() -> None:
                vm.config.pop("lock", None)
                for (n, volid), vol in list(self.volumes.items()):
                    if vol.vmid == vmid and n == node:
                        del self.volumes[(n, volid)]
                        vol.node = target
                        self.volumes[(target, volid)] = vol
                vm.node = target
                self.usage.clear()

            return self.start_task(
                node,
                "qmigrate",
                str(vmid),
                user,
                self.settings.durations.get("qmigrate"),
                finish,
                [f"starting migration of VM {vmid} to node '{target}'"],
            )
