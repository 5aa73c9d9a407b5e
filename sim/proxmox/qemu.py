"""VM config, clone, resize, template and destroy (mixed into the Backend)."""

from __future__ import annotations

import re
from typing import Any

from . import exceptions as E
from . import propstr as P
from .core import BackendCore
from .entities import GiB, Vm

# Keys applied at once even on a running VM (PVE's fast-plug options, default hotplug, cloud-init).
HOT_KEYS = {
    "name",
    "description",
    "tags",
    "onboot",
    "protection",
    "startup",
    "agent",
    "ciuser",
    "cipassword",
    "sshkeys",
    "nameserver",
    "searchdomain",
    "citype",
    "ciupgrade",
    "cicustom",
    "lock",
}
CLOUDINIT_KEYS = {"ciuser", "cipassword", "sshkeys", "citype", "ciupgrade", "cicustom", "nameserver", "searchdomain"}
HOT_RE = re.compile(r"^(net\d+|ipconfig\d+|(scsi|virtio|sata|ide)\d+|unused\d+)$")
NEW_VOL_RE = re.compile(r"^([a-zA-Z][\w\-.]*):(\d+(?:\.\d+)?)$")


def wire_value(value: Any) -> Any:
    """Perl typing: integers stay numbers, numbers become strings."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


class QemuMixin(BackendCore):
    """Config and disk operations; expects the Backend's helpers."""

    # --- reads -----------------------------------------------------------------------------------
    def get_config(self, node: str, vmid: int, current: bool = False) -> dict[str, Any]:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            cfg = dict(vm.config)
            if not current:
                cfg.update(vm.pending)
                for key in vm.pending_delete:
                    cfg.pop(key, None)
            if "cipassword" in cfg:
                cfg["cipassword"] = "**********"
            cfg["digest"] = vm.digest()
            return cfg

    def get_pending(self, node: str, vmid: int) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            return vm.pending_items()

    def nextid(self, vmid: int | None = None) -> str:
        with self.lock:
            self.tick()
            if vmid is not None:
                if vmid in self.vms:
                    raise E.param_error("vmid", f"VM {vmid} already exists")
                return str(vmid)
            lower, upper = self.settings.nextid_range
            for candidate in range(lower, upper):
                if candidate not in self.vms:
                    return str(candidate)
            raise E.HandlerError(f"unable to get any free VMID in range [{lower}, {upper}]")

    # --- config writes ---------------------------------------------------------------------------
    def update_config(
        self,
        node: str,
        vmid: int,
        params: dict[str, Any],
        delete: list[str] | None = None,
        digest: str | None = None,
        revert: list[str] | None = None,
        skiplock: bool = False,
    ) -> None:
        """PUT …/config: validated, typed params; pending on a running VM for cold keys."""
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.lock and not skiplock:
                raise E.locked(vm.lock)
            if digest and digest != vm.digest():
                raise E.HandlerError("checksum mismatch (file change by other user?)")
            if not params and not delete and not revert:
                raise E.HandlerError("no options specified")
            self.acquire_file_lock(vmid, self.clock(), self.settings.lock_wait["default"])
            for key in revert or []:
                vm.pending.pop(key, None)
                if key in vm.pending_delete:
                    vm.pending_delete.remove(key)
            for key, value in params.items():
                self._set_key(vm, key, wire_value(value))
            for key in delete or []:
                self._delete_key(vm, key)

    def _set_key(self, vm: Vm, key: str, value: Any) -> None:
        if P.is_disk_key(key) and isinstance(value, str):
            value = self._prepare_drive(vm, key, value)
        elif re.match(r"^net\d+$", key):
            net = P.parse_net(value)
            net.setdefault("macaddr", self.random_mac())
            value = P.dump_net(net)
        elif key == "tags":
            value = P.normalise_tags(str(value))
        elif key == "cipassword":
            value = value if value.startswith("$") else "$5$sim$" + str(abs(hash(value)))
        target = vm.config if vm.status != "running" or key in HOT_KEYS or HOT_RE.match(key) else vm.pending
        target[key] = value
        if key in vm.pending_delete:
            vm.pending_delete.remove(key)
        if target is vm.config:
            vm.pending.pop(key, None)

    def regenerate_cloudinit(self, node: str, vmid: int) -> None:
        """PUT …/cloudinit: rebuild the cloud-init drive from the current cloud-init values."""
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.lock:
                raise E.locked(vm.lock)
            vm.cloudinit_image = {k: v for k, v in vm.config.items() if k in CLOUDINIT_KEYS or k.startswith("ipconfig")}

    def cloudinit_pending(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """GET …/cloudinit: each cloud-init key with the value the drive holds and, if different, the new one."""
        with self.lock:
            vm = self.vm(node, vmid)
            current = {k: v for k, v in vm.config.items() if k in CLOUDINIT_KEYS or k.startswith("ipconfig")}
            out = []
            for key in sorted(set(current) | set(vm.cloudinit_image)):
                item: dict[str, Any] = {"key": key}
                if key in vm.cloudinit_image:
                    item["value"] = str(vm.cloudinit_image[key])
                if key not in current:
                    item["delete"] = 1
                elif current[key] != vm.cloudinit_image.get(key):
                    item["pending"] = str(current[key])
                out.append(item)
            return out

    def _delete_key(self, vm: Vm, key: str) -> None:
        if key not in vm.config and key not in vm.pending:
            return  # PVE only logs a warning
        if vm.status == "running" and not (key in HOT_KEYS or HOT_RE.match(key)):
            if key not in vm.pending_delete:
                vm.pending_delete.append(key)
            return
        value = vm.config.pop(key, None)
        vm.pending.pop(key, None)
        if value is not None and P.is_disk_key(key):
            volid = P.parse_drive(str(value)).get("file", "")
            if P.is_cloudinit(str(value)):
                self.free_volume(volid, vm.node)
            elif not P.is_cdrom(str(value)):
                n = 0
                while f"unused{n}" in vm.config:
                    n += 1
                vm.config[f"unused{n}"] = volid

    def _prepare_drive(self, vm: Vm, key: str, value: str) -> str:
        drive = P.parse_drive(value)
        volid = drive.get("file", "")
        sid, _, rest = volid.partition(":")
        if rest == "cloudinit":
            for other, val in vm.config.items():
                if other != key and P.is_disk_key(other) and P.is_cloudinit(str(val)):
                    raise E.HandlerError(f"{key} - cloud-init drive is already attached at '{other}'")
            drive["file"] = f"{sid}:vm-{vm.vmid}-cloudinit"
            drive["media"] = "cdrom"
            if self.vol_key(drive["file"], vm.node) not in self.volumes:
                self.alloc_volume(sid, vm.node, drive["file"], 4 * 1024**2, vm.vmid)
            return P.dump(drive, "file")
        m = NEW_VOL_RE.match(volid)
        if m:
            size = int(float(m.group(2)) * GiB)
            name = self.next_disk_name(m.group(1), vm.node, vm.vmid)
            self.alloc_volume(m.group(1), vm.node, name, size, vm.vmid)
            drive["file"] = name
            drive["size"] = P.format_size(size)
            return P.dump(drive, "file")
        if volid and not P.is_cdrom(value) and ":" in volid:
            vol = self.volumes.get(self.vol_key(volid, vm.node))
            if vol is None:
                raise E.HandlerError(f"volume '{volid}' does not exist")
            drive["size"] = P.format_size(vol.size)
        return P.dump(drive, "file")

    def resize(self, node: str, vmid: int, disk: str, size: str, user: str) -> str:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.lock:
                raise E.locked(vm.lock)

            def finish() -> None:
                drive_text = vm.config.get(disk)
                if drive_text is None or P.is_cdrom(str(drive_text)):
                    raise E.HandlerError(f"disk '{disk}' does not exist")
                drive = P.parse_drive(str(drive_text))
                vol = self.volumes.get(self.vol_key(drive["file"], vm.node))
                old = max(P.parse_size(drive.get("size", "0"))[1], vol.size if vol else 0)
                relative, amount = P.parse_size(size)
                new = old + amount if relative else amount
                if new < old:
                    raise E.HandlerError("shrinking disks is not supported")
                if vol is not None:
                    st = self.storages[vol.storage]
                    if new - old > st.total - self.storage_used(vol.storage, vm.node):
                        raise E.HandlerError(f"storage '{vol.storage}' is full: cannot grow {disk}")
                    vol.size = max(vol.size, new) if vol.size else 0
                    self.usage.clear()
                drive["size"] = P.format_size(new)
                vm.config[disk] = P.dump(drive, "file")

            return self.start_task(
                node,
                "resize",
                str(vmid),
                user,
                self.settings.durations.get("resize"),
                finish,
                [f"resizing {disk} to {size}"],
            )
