"""Backups: vzdump (notes, protection, prune-backups), scheduled backup jobs (``/cluster/backup``) that
fire on the simulated clock, restore (``POST /nodes/{node}/qemu`` with ``archive``), volume attributes
and the guest files a backup carries.

A backup volume saves the VM's config and, per disk, the guest files on it (written through the guest
agent), so a restore brings back the data exactly as it was at backup time.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from . import calendar, prune
from . import exceptions as E
from . import propstr as P
from .core import BackendCore
from .entities import GiB, MiB, Vm, Volume

OS_FOOTPRINT = int(2.5 * GiB)
"""Bytes a freshly cloned Dokploy server uses on its boot disk (Ubuntu, Docker, Dokploy's images)."""
COMPRESSION = {"zstd": ("vma.zst", 0.45), "gzip": ("vma.gz", 0.5), "1": ("vma.lzo", 0.55), "lzo": ("vma.lzo", 0.55)}
COMPRESSION_LXC = {"zstd": ("tar.zst", 0.45), "gzip": ("tar.gz", 0.5), "1": ("tar.lzo", 0.55), "lzo": ("tar.lzo", 0.55)}
"""Containers are archived as tar files (``vzdump-lxc-<vmid>-<time>.tar.zst``), VMs as VMA."""
JOB_KEYS_ROOT_ONLY = ("tmpdir", "dumpdir", "script")
BOOT_DISK_ORDER = ("scsi0", "virtio0", "sata0", "ide0")


class BackupMixin(BackendCore):
    """vzdump, backup jobs, restore, backup volume attributes and guest files."""

    jobs: dict[str, dict[str, Any]]
    job_last_run: dict[str, float]
    _firing = False

    def reset(self, seed: int | None = None, nodes: int = 0) -> None:
        with self.lock:
            self.jobs = {}
            self.job_last_run = {}
            super().reset(seed, nodes)

    def tick(self) -> None:
        super().tick()
        if self._firing or not getattr(self, "jobs", None):
            return
        self._firing = True
        try:
            self._fire_due_jobs()
        finally:
            self._firing = False

    # --- guest files ---------------------------------------------------------------------------
    def boot_volume(self, vm: Vm) -> Volume:
        disks = self.disks(vm)
        key = next((k for k in BOOT_DISK_ORDER if k in disks), next(iter(sorted(disks)), None))
        if key is None:
            raise E.HandlerError(f"VM {vm.vmid} has no disk")
        vol = self.volumes.get(self.vol_key(disks[key]["file"], vm.node))
        if vol is None:
            raise E.HandlerError(f"volume '{disks[key]['file']}' does not exist")
        return vol

    def guest_file_write(self, node: str, vmid: int, path: str, content: str, encode: bool) -> None:
        with self.lock:
            self.tick()
            vm = self._agent_vm(node, vmid)
            text = content if encode else base64.b64decode(content).decode("utf-8", "replace")
            self.boot_volume(vm).files[path] = text

    def guest_file_read(self, node: str, vmid: int, path: str) -> dict[str, Any]:
        with self.lock:
            self.tick()
            vm = self._agent_vm(node, vmid)
            files = self.boot_volume(vm).files
            if path not in files:
                raise E.HandlerError(f"Agent error: Failed to open file '{path}': No such file or directory")
            return {"content": files[path]}

    def _agent_vm(self, node: str, vmid: int) -> Vm:
        vm = self.vm(node, vmid)
        if vm.status != "running":
            raise E.HandlerError(f"VM {vmid} is not running")
        if not self.agent_ready(vm):  # type: ignore[attr-defined]
            raise E.HandlerError("QEMU guest agent is not running")
        return vm

    # --- vzdump --------------------------------------------------------------------------------
    def vzdump(
        self,
        node: str,
        vmids: list[int],
        storage: str,
        user: str,
        options: dict[str, Any] | None = None,
    ) -> str:
        """Back up the listed VMs that live on ``node``; one task. ``options``: mode, compress,
        notes-template, protected, prune-backups, remove (PVE's parameter names)."""
        with self.lock:
            self.tick()
            return self._vzdump(node, vmids, storage, user, dict(options or {}))

    def _vzdump(self, node: str, vmids: list[int], storage: str, user: str, opts: dict[str, Any]) -> str:
        st = self.storage(storage, self.node(node).name)
        if "backup" not in st.content:
            raise E.HandlerError(f"storage '{storage}' does not support backups")
        keep = prune.parse_keep(opts.get("prune-backups"))
        local = [self.vms[v] for v in vmids if v in self.vms and self.vms[v].node == node]
        if not local:
            return "OK"
        for vm in local:
            if vm.lock:
                raise E.locked(vm.lock)
        for vm in local:
            vm.config["lock"] = "backup"
        compress = str(opts.get("compress", "0"))
        started = self.clock()
        log = [f"INFO: starting new backup job: vzdump {' '.join(map(str, vmids))} --storage {storage}"]

        def finish() -> None:
            for vm in local:
                vm.config.pop("lock", None)
                stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.gmtime(started))
                table, plain = (COMPRESSION_LXC, "tar") if vm.kind == "lxc" else (COMPRESSION, "vma")
                ext, ratio = table.get(compress, (plain, 1.0))
                volid = f"{storage}:backup/vzdump-{vm.kind}-{vm.vmid}-{stamp}.{ext}"
                log.append(f"INFO: Starting Backup of VM {vm.vmid} ({vm.kind})")
                disks = self._backup_disks(vm)
                files = {k: dict(self._disk_files(vm, d["file"])) for k, d in disks.items()}
                used = sum(
                    min(P.parse_size(d.get("size", "0"))[1], OS_FOOTPRINT + sum(len(t) for t in files[k].values()))
                    for k, d in disks.items()
                )
                vol = self.alloc_volume(storage, node, volid, int(used * ratio) + MiB, vm.vmid, "backup", ext)
                vol.ctime = int(started)
                vol.archive = {
                    "config": dict(vm.config),
                    "node": node,
                    "disks": files,
                    "cloudinit": dict(vm.cloudinit_image),  # qemu-server's [special:cloudinit] section
                }
                vol.notes = _notes(str(opts.get("notes-template", "{{guestname}}")), vm, node)
                vol.protected = bool(int(opts.get("protected", 0) or 0))
                log.append(f"INFO: creating vzdump archive '{volid}'")
                log.append(f"INFO: Finished Backup of VM {vm.vmid}")
                if int(opts.get("remove", 1) or 0) and not keep.get("keep-all"):
                    log.extend(self._prune_group(storage, node, vm.vmid, keep))
            log.append("INFO: Backup job finished successfully")

        duration = self.settings.durations.get("vzdump") * len(local)
        tid = str(local[0].vmid) if len(local) == 1 else ""
        return self.start_task(node, "vzdump", tid, user, duration, finish, log)

    def _backup_disks(self, vm: Vm) -> dict[str, dict[str, str]]:
        """What vzdump archives: a VM's data disks, a container's rootfs (as ``file``/``size``)."""
        if vm.kind != "lxc":
            return self.disks(vm)
        rootfs = P.parse(str(vm.config.get("rootfs", "")), "volume")
        return {"rootfs": {"file": rootfs.get("volume", ""), "size": rootfs.get("size", "0")}}

    def _disk_files(self, vm: Vm, volid: str) -> dict[str, str]:
        vol = self.volumes.get(self.vol_key(volid, vm.node))
        return vol.files if vol is not None else {}

    # --- prune ---------------------------------------------------------------------------------
    def backup_group(self, storage: str, node: str, vmid: int) -> list[Volume]:
        key_node = "" if self.storages[storage].shared else node
        return [
            v
            for (n, _), v in self.volumes.items()
            if n == key_node and v.storage == storage and v.content == "backup" and v.vmid == vmid
        ]

    def prune_marks(self, storage: str, node: str, vmid: int | None, keep: dict[str, int]) -> list[dict[str, Any]]:
        """GET …/prunebackups: every backup of the storage (or of ``vmid``) with its mark."""
        with self.lock:
            self.tick()
            self.storage(storage, self.node(node).name)
            groups: dict[int, list[Volume]] = {}
            key_node = "" if self.storages[storage].shared else node
            for (n, _), v in self.volumes.items():
                if n == key_node and v.storage == storage and v.content == "backup" and v.vmid is not None:
                    if vmid is None or v.vmid == vmid:
                        groups.setdefault(v.vmid, []).append(v)
            out = []
            for group in groups.values():
                marks = prune.mark([_prune_item(v) for v in group], keep)
                out += [
                    {"volid": v.volid, "ctime": v.ctime, "vmid": v.vmid, "type": _guest_type(v), "mark": marks[v.volid]}
                    for v in group
                ]
            return sorted(out, key=lambda i: (i["vmid"], -i["ctime"]))

    def prune_now(self, storage: str, node: str, vmid: int | None, keep: dict[str, int], user: str) -> str:
        """DELETE …/prunebackups: remove what the marks say, as a ``prunebackups`` task."""
        with self.lock:
            marks = self.prune_marks(storage, node, vmid, keep)

            def finish() -> None:
                for item in marks:
                    if item["mark"] == "remove":
                        self.free_volume(item["volid"], node)

            return self.start_task(node, "prunebackups", "", user, 0.0, finish)

    def _prune_group(self, storage: str, node: str, vmid: int, keep: dict[str, int]) -> list[str]:
        group = self.backup_group(storage, node, vmid)
        marks = prune.mark([_prune_item(v) for v in group], keep)
        removed = [volid for volid, m in marks.items() if m == "remove"]
        lines = [f"INFO: prune older backups with retention: {prune.dump_keep(keep)}"]
        for volid in removed:
            self.free_volume(volid, node)
            lines.append(f"INFO: removing backup '{volid}'")
        lines.append(f"INFO: pruned {len(removed)} backup(s)" if removed else "INFO: pruned 0 backup(s)")
        return lines

    # --- volume attributes ---------------------------------------------------------------------
    def volume_attributes(self, node: str, sid: str, volume: str, notes: str | None, protected: bool | None) -> None:
        with self.lock:
            self.tick()
            volid = volume if ":" in volume else f"{sid}:{volume}"
            vol = self.volumes.get(self.vol_key(volid, self.node(node).name))
            if vol is None:
                raise E.HandlerError(f"volume '{volid}' does not exist")
            if protected is not None:
                if vol.content != "backup":
                    raise E.HandlerError("protection is only supported for backups")
                vol.protected = protected
            if notes is not None:
                vol.notes = notes

    # --- backup jobs ---------------------------------------------------------------------------
    def job_create(self, params: dict[str, Any]) -> None:
        with self.lock:
            self.tick()
            job_id = str(params.get("id") or f"backup-{self.new_uuid()[:13]}")
            if job_id in self.jobs:
                raise E.HandlerError(f"Job '{job_id}' already exists")
            config = self._job_config({"enabled": 1, **params, "id": job_id})
            self.jobs[job_id] = config
            self.job_last_run[job_id] = self.clock()

    def job_get(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            self.tick()
            if job_id not in self.jobs:
                raise E.HandlerError(f"job '{job_id}' does not exist")
            return _job_json(self.jobs[job_id])

    def job_list(self) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            out = []
            for job_id in sorted(self.jobs):
                item = _job_json(self.jobs[job_id])
                nxt = self._next_run(job_id)
                if nxt is not None and item.get("enabled", 1):
                    item["next-run"] = int(nxt)
                out.append(item)
            return out

    def job_update(self, job_id: str, params: dict[str, Any], delete: list[str]) -> None:
        with self.lock:
            self.tick()
            if job_id not in self.jobs:
                raise E.HandlerError(f"job '{job_id}' does not exist")
            config = dict(self.jobs[job_id])
            for key in delete:
                if key in ("id", "type"):
                    raise E.param_error("delete", f"unable to delete required option '{key}'")
                config.pop(key, None)
            config.update(params)
            self.jobs[job_id] = self._job_config(config)

    def job_delete(self, job_id: str) -> None:
        with self.lock:
            self.tick()
            if self.jobs.pop(job_id, None) is None:
                raise E.HandlerError(f"job '{job_id}' does not exist")
            self.job_last_run.pop(job_id, None)

    def _job_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Validate a whole job section as PVE's verify_vzdump_parameters and the section config do."""
        if not config.get("schedule"):
            raise E.param_error("schedule", "property is missing and it is not optional")
        try:
            calendar.parse(str(config["schedule"]))
        except calendar.CalendarEventError as exc:
            raise E.param_error("schedule", str(exc)) from None
        selectors = [k for k in ("all", "vmid", "pool") if config.get(k) not in (None, "", 0, "0")]
        if len(selectors) > 1:
            raise E.param_error(selectors[1], f"option conflicts with option '{selectors[0]}'")
        if not selectors:
            raise E.HandlerError("you need to specify the vmid, all or pool")
        if config.get("exclude") and "vmid" in selectors:
            raise E.param_error("exclude", "option conflicts with option 'vmid'")
        storage = str(config.get("storage") or "local")
        if storage not in self.storages:
            raise E.param_error("storage", f"storage '{storage}' does not exist")
        if "backup" not in self.storages[storage].content:
            raise E.param_error("storage", f"storage '{storage}' does not support backups")
        if config.get("pool") and config["pool"] not in self.pools:
            raise E.param_error("pool", f"pool '{config['pool']}' does not exist")
        if config.get("prune-backups") not in (None, ""):
            try:
                keep = prune.parse_keep(config["prune-backups"])
            except prune.PruneOptionError as exc:
                raise E.param_error("prune-backups", str(exc)) from None
            config["prune-backups"] = prune.dump_keep(keep)
        return {**config, "type": "vzdump"}

    def _next_run(self, job_id: str) -> float | None:
        return calendar.parse(str(self.jobs[job_id]["schedule"])).next_after(self.job_last_run[job_id])

    def _fire_due_jobs(self) -> None:
        now = self.clock()
        for job_id, job in list(self.jobs.items()):
            due = self._next_run(job_id)
            if due is None or due > now:
                continue
            self.job_last_run[job_id] = now
            if not int(job.get("enabled", 1) or 0):
                continue
            self._run_job(job)

    def _run_job(self, job: dict[str, Any]) -> None:
        """What pvescheduler does at a job's time: vzdump per node, as root@pam, with the job's options."""
        if job.get("vmid"):
            vmids = [int(v) for v in str(job["vmid"]).split(",") if v.strip()]
        elif job.get("pool"):
            vmids = list(self.pools[job["pool"]].vms) if job["pool"] in self.pools else []
        else:
            vmids = [v.vmid for v in self.vms.values() if not v.is_template]
        excluded = {int(v) for v in str(job.get("exclude") or "").split(",") if v.strip()}
        by_node: dict[str, list[int]] = {}
        for vmid in vmids:
            vm = self.vms.get(vmid)
            if vm is None or vmid in excluded or vm.is_template:
                continue
            if job.get("node") and vm.node != job["node"]:
                continue
            by_node.setdefault(vm.node, []).append(vmid)
        for node, ids in sorted(by_node.items()):
            if not self.nodes[node].online:
                continue
            try:
                self._vzdump(node, ids, str(job.get("storage") or "local"), "root@pam", job)
            except E.HandlerError as exc:  # a locked guest: PVE's job logs it; the next run tries again
                self.failed_task(node, "vzdump", "", "root@pam", exc.message)

    # --- restore -------------------------------------------------------------------------------
    def restore(
        self,
        node: str,
        vmid: int,
        archive: str,
        user: str,
        storage: str | None = None,
        force: bool = False,
        unique: bool = False,
        pool: str | None = None,
    ) -> str:
        with self.lock:
            self.tick()
            self.node(node)
            vol = self.volumes.get(self.vol_key(archive, node))
            if vol is None or vol.archive is None:
                raise E.HandlerError(f"volume '{archive}' does not exist")
            existing = self.vms.get(vmid)
            if existing is not None:
                if not force:
                    raise E.HandlerError(
                        f"unable to restore VM {vmid} - VM {vmid} already exists on node '{existing.node}'"
                    )
                if existing.node != node:
                    raise E.HandlerError(
                        f"unable to restore VM {vmid} - VM {vmid} already exists on node '{existing.node}'"
                    )
                if existing.lock:
                    raise E.locked(existing.lock)
                if existing.status == "running":
                    raise E.HandlerError(f"unable to restore VM {vmid} - VM {vmid} is running")
                # qemu-server keeps the config file (so pool membership and ACLs stay) and drops the disks.
                for (n, volid), old in list(self.volumes.items()):
                    if old.vmid == vmid and old.content == "images":
                        del self.volumes[(n, volid)]
                self.usage.clear()
                vm = existing
                vm.config = {"lock": "create"}
                vm.pending, vm.pending_delete, vm.snapshots = {}, [], {}
            else:
                vm = Vm(vmid, node, {"lock": "create"})
                self.vms[vmid] = vm
            saved = dict(vol.archive["config"])
            saved.pop("lock", None)
            disk_files: dict[str, dict[str, str]] = vol.archive.get("disks", {})
            saved_cloudinit: dict[str, Any] = vol.archive.get("cloudinit", {})

            def finish() -> None:
                cfg: dict[str, Any] = {}
                for key, value in saved.items():
                    if P.is_disk_key(key) and not P.is_cdrom(str(value)):
                        drive = P.parse_drive(str(value))
                        sid = storage or P.volume_storage(drive["file"]) or "local-lvm"
                        name = self.next_disk_name(sid, node, vmid)
                        new = self.alloc_volume(sid, node, name, P.parse_size(drive.get("size", "0"))[1], vmid)
                        new.files = dict(disk_files.get(key, {}))
                        drive["file"] = name
                        value = P.dump(drive, "file")
                    elif P.is_disk_key(key) and P.is_cloudinit(str(value)):
                        sid = storage or P.volume_storage(P.parse_drive(str(value))["file"]) or "local-lvm"
                        name = f"{sid}:vm-{vmid}-cloudinit"
                        self.alloc_volume(sid, node, name, 4 * MiB, vmid)
                        value = f"{name},media=cdrom"
                    elif unique and key.startswith("net"):
                        net = P.parse_net(str(value))
                        net["macaddr"] = self.random_mac()
                        value = P.dump_net(net)
                    cfg[key] = value
                vm.config = cfg
                vm.cloudinit_image = dict(saved_cloudinit)
                if pool and existing is None:
                    self._pool_add(pool, vmid)

            return self.start_task(
                node,
                "qmrestore",
                str(vmid),
                user,
                self.settings.durations.get("qmrestore"),
                finish,
                [f"restore vma archive: {archive}"],
            )


def _guest_type(v: Volume) -> str:
    """``qemu`` or ``lxc``, from the archive's name as PVE reads it."""
    return "lxc" if "/vzdump-lxc-" in v.volid else "qemu"


def _prune_item(v: Volume) -> dict[str, Any]:
    return {"volid": v.volid, "ctime": v.ctime, "protected": v.protected}


def _notes(template: str, vm: Vm, node: str) -> str:
    """PVE's notes-template: {{cluster}} {{guestname}} {{node}} {{vmid}}; ``\\n`` and ``\\\\`` unescaped."""
    text = template.replace("\\n", "\n").replace("\\\\", "\\")
    values = {
        "cluster": "sim",
        "guestname": str(vm.config.get("hostname" if vm.kind == "lxc" else "name", f"VM {vm.vmid}")),
        "node": node,
        "vmid": str(vm.vmid),
    }
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _job_json(config: dict[str, Any]) -> dict[str, Any]:
    """A job as GET returns it: prune-backups decoded into an object (PVE parses the property string)."""
    out = dict(config)
    if out.get("prune-backups"):
        out["prune-backups"] = prune.parse_keep(out["prune-backups"])
    for key in ("enabled", "all", "protected", "remove", "repeat-missed", "stdexcludes"):
        if key in out:
            out[key] = int(out[key])
    return out
