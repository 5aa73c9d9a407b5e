"""LXC containers: create, clone, config with pending changes, power, interfaces, template, destroy,
resize and migrate (mixed into the Backend).

Containers share the VMID space and ``self.vms`` with VMs (``Vm.kind == "lxc"``); ``ct()`` finds one
the way ``vm()`` finds a VM, with pve-container's error for a missing config. Keys PVE applies to a
running container at once are ``FASTPLUG`` (written directly) and ``HOTPLUG`` (cgroup/veth changes);
everything else waits in ``pending`` until the next start, as ``pct set`` does.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from . import exceptions as E
from . import propstr as P
from .core import BackendCore
from .entities import GiB, MiB, Vm

FASTPLUG = {"description", "onboot", "startup", "protection", "hostname", "tags", "lock", "hookscript"}
HOTPLUG = {"memory", "swap", "cores", "cpulimit", "cpuunits"}
HOT_RE = re.compile(r"^net\d+$")
ROOTFS_NEW = re.compile(r"^([a-zA-Z][\w\-.]*):(\d+(?:\.\d+)?)$")
AUTHORIZED_KEYS = "/root/.ssh/authorized_keys"
CREATE_ONLY = {"ostemplate", "ssh-public-keys", "password", "pool", "start", "storage", "force", "restore"}
CREATE_ONLY |= {"unique", "ignore-unpack-errors", "bwlimit"}


def no_ct_config(node: str, vmid: int) -> E.HandlerError:
    """pve-container's text for a missing container config."""
    return E.HandlerError(f"Configuration file 'nodes/{node}/lxc/{vmid}.conf' does not exist")


def _wire(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _dump_net(net: dict[str, str]) -> str:
    """``name=…`` first, as PVE writes a container's ``net[n]``."""
    return P.dump({"name": net["name"], **{k: v for k, v in net.items() if k != "name"}})


class LxcMixin(BackendCore):
    """Container operations; tasks are ``vzcreate``, ``vzclone``, ``vzstart`` … as PVE names them."""

    def ct(self, node: str, vmid: int) -> Vm:
        """The container on ``node``, or PVE's "does not exist" error."""
        self.node(node)
        ct = self.vms.get(int(vmid))
        if ct is None or ct.node != node or ct.kind != "lxc":
            raise no_ct_config(node, vmid)
        return ct

    def ct_rootfs_volume(self, ct: Vm) -> Any:
        """The rootfs volume (or None while the container is being created)."""
        text = str(ct.config.get("rootfs", ""))
        volid = P.parse(text, "volume").get("volume", "") if text else ""
        return self.volumes.get(self.vol_key(volid, ct.node)) if volid else None

    # --- create ----------------------------------------------------------------------------------
    def ct_create(self, node: str, vmid: int, params: dict[str, Any], user: str) -> str:
        """POST /nodes/{node}/lxc: unpack ``ostemplate`` onto a new rootfs (``vzcreate``)."""
        with self.lock:
            self.tick()
            self.node(node)
            existing = self.vms.get(vmid)
            if existing is not None:
                what = "CT" if existing.kind == "lxc" else "VM"
                raise E.HandlerError(f"{what} {vmid} already exists on node '{existing.node}'")
            if params.get("restore"):
                raise E.HandlerError("restore is not supported by the simulator; use the backup restore path")
            template = str(params["ostemplate"])
            tvol = self.volumes.get(self.vol_key(template, node))
            if tvol is None or tvol.content != "vztmpl":
                raise E.HandlerError(f"volume '{template}' does not exist")
            pool = params.get("pool")
            if pool and pool not in self.pools:
                raise E.HandlerError(f"pool '{pool}' does not exist")
            config = {k: _wire(v) for k, v in params.items() if k not in CREATE_ONLY | {"node", "vmid"}}
            config.setdefault("arch", "amd64")
            config.setdefault("ostype", "ubuntu")
            config.setdefault("memory", 512)
            config.setdefault("swap", 512)
            config.setdefault("hostname", f"CT{vmid}")
            rootfs = P.parse(str(config.get("rootfs", f"{params.get('storage', 'local')}:4")), "volume")
            m = ROOTFS_NEW.match(rootfs.get("volume", ""))
            if not m:
                raise E.param_error("rootfs", "expected '<storage>:<size in GiB>' for a new container")
            self.storage(m.group(1), node)
            ct = Vm(vmid, node, {"lock": "create"}, kind="lxc")
            self.vms[vmid] = ct
            try:
                size = int(float(m.group(2)) * GiB)
                volid = self.next_disk_name(m.group(1), node, vmid)
                vol = self.alloc_volume(m.group(1), node, volid, size, vmid, content="rootdir")
            except E.PveError:
                self.vms.pop(vmid, None)
                raise
            rootfs["volume"] = volid
            rootfs["size"] = P.format_size(size)
            config["rootfs"] = P.dump(rootfs, "volume")
            for key in [k for k in config if HOT_RE.match(k)]:
                config[key] = self._ct_net(str(config[key]))
            if config.get("tags"):
                config["tags"] = P.normalise_tags(str(config["tags"]))
            keys = str(params.get("ssh-public-keys", "") or "")
            start = bool(params.get("start"))

            def finish() -> None:
                ct.config = config
                if keys:
                    vol.files[AUTHORIZED_KEYS] = keys if keys.endswith("\n") else keys + "\n"
                if pool:
                    self._pool_add(pool, vmid)
                if start:
                    self._ct_boot(ct)

            return self.start_task(
                node,
                "vzcreate",
                str(vmid),
                user,
                self.settings.durations.get("vzcreate"),
                finish,
                [f"extracting archive '{template}'"],
            )

    def _ct_net(self, text: str) -> str:
        net = P.parse(text)
        if "name" not in net:
            raise E.param_error("net0", "missing property - 'name'")
        net.setdefault("hwaddr", self.random_mac())
        net.setdefault("type", "veth")
        return _dump_net(net)

    # --- clone and template ------------------------------------------------------------------------
    def ct_clone(
        self,
        node: str,
        vmid: int,
        newid: int,
        user: str,
        hostname: str | None = None,
        full: bool | None = None,
        pool: str | None = None,
        storage: str | None = None,
        target: str | None = None,
        description: str | None = None,
    ) -> str:
        """POST …/clone (``vzclone``): linked clones only from templates; features and ``unprivileged``
        come from the source, so the clone needs no feature change."""
        with self.lock:
            self.tick()
            src = self.ct(node, vmid)
            if src.lock:
                raise E.locked(src.lock)
            if newid in self.vms:
                raise E.HandlerError(f"unable to create CT {newid} - config file already exists")
            full = (not src.is_template) if full is None else bool(full)
            if not full and not src.is_template:
                raise E.HandlerError("linked clone feature for 'rootfs' is not available")
            if storage and not full:
                raise E.HandlerError("parameter 'storage' not allowed for linked clones")
            if pool and pool not in self.pools:
                raise E.HandlerError(f"pool '{pool}' does not exist")
            dest = target or node
            self.node(dest)
            src_vol = self.ct_rootfs_volume(src)
            if dest != node and src_vol is not None and not self.storages[src_vol.storage].shared:
                raise E.HandlerError(f"Can't clone to other node '{dest}' (CT uses local storage)")
            cfg = {k: copy.deepcopy(v) for k, v in src.config.items() if k not in ("template", "lock", "parent")}
            cfg["hostname"] = hostname or f"Copy-of-CT-{src.config.get('hostname', vmid)}"
            if description is not None:
                cfg["description"] = description
            for key in [k for k in cfg if HOT_RE.match(k)]:
                net = P.parse(str(cfg[key]))
                net["hwaddr"] = self.random_mac()
                cfg[key] = _dump_net(net)
            new = Vm(newid, dest, {"lock": "create"}, kind="lxc")
            self.vms[newid] = new
            rootfs = P.parse(str(src.config["rootfs"]), "volume")
            sid = storage if (full and storage) else P.volume_storage(rootfs["volume"]) or "local-lvm"
            size = src_vol.size if src_vol is not None else P.parse_size(rootfs.get("size", "0"))[1]
            try:
                volid = self.next_disk_name(sid, dest, newid)
                if not full and self.storages[sid].type != "lvmthin":
                    volid = f"{sid}:{rootfs['volume'].split(':', 1)[1]}/{volid.split(':', 1)[1]}"
                vol = self.alloc_volume(sid, dest, volid, size if full else 0, newid, content="rootdir")
            except E.PveError:
                self.vms.pop(newid, None)
                raise
            vol.files = dict(src_vol.files) if src_vol is not None else {}
            rootfs["volume"] = volid
            rootfs["size"] = P.format_size(size)
            cfg["rootfs"] = P.dump(rootfs, "volume")
            kind = "vzclone"
            duration = self.settings.durations.get(kind, size / GiB)

            def finish() -> None:
                new.config = cfg
                if pool:
                    self._pool_add(pool, newid)

            return self.start_task(node, kind, str(vmid), user, duration, finish, [f"clone rootfs to {volid}"])

    def ct_template(self, node: str, vmid: int, user: str) -> str:
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            if ct.lock:
                raise E.locked(ct.lock)
            if ct.is_template:
                raise E.HandlerError("you can't convert a template to a template")
            if ct.status == "running":
                raise E.HandlerError("you can't convert a CT to template if the CT is running")

            def finish() -> None:
                rootfs = P.parse(str(ct.config["rootfs"]), "volume")
                old = rootfs["volume"]
                vol = self.volumes.pop(self.vol_key(old, ct.node), None)
                rootfs["volume"] = old.replace(f"vm-{vmid}-disk", f"base-{vmid}-disk")
                if vol is not None:
                    vol.volid = rootfs["volume"]
                    self.volumes[self.vol_key(vol.volid, ct.node)] = vol
                ct.config["rootfs"] = P.dump(rootfs, "volume")
                ct.config["template"] = 1

            return self.start_task(
                node, "vztemplate", str(vmid), user, self.settings.durations.get("vztemplate"), finish
            )

    # --- config ----------------------------------------------------------------------------------
    def ct_config(self, node: str, vmid: int, current: bool = False) -> dict[str, Any]:
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            cfg = dict(ct.config)
            if not current:
                cfg.update(ct.pending)
                for key in ct.pending_delete:
                    cfg.pop(key, None)
            cfg["digest"] = ct.digest()
            return cfg

    def ct_pending(self, node: str, vmid: int) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            return ct.pending_items()

    def ct_update_config(
        self,
        node: str,
        vmid: int,
        params: dict[str, Any],
        delete: list[str] | None = None,
        digest: str | None = None,
        revert: list[str] | None = None,
    ) -> None:
        """PUT …/config: fast-plug and hot-plug keys apply at once on a running CT, others wait."""
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            if ct.lock:
                raise E.locked(ct.lock)
            if digest and digest != ct.digest():
                raise E.HandlerError("checksum mismatch (file change by other user?)")
            if not params and not delete and not revert:
                raise E.HandlerError("no options specified")
            if "rootfs" in params and P.parse(str(params["rootfs"]), "volume").get("volume") != P.parse(
                str(ct.config.get("rootfs", "")), "volume"
            ).get("volume"):
                raise E.HandlerError("unable to modify read-only option: 'rootfs'")
            if "unprivileged" in params and str(_wire(params["unprivileged"])) != str(ct.config.get("unprivileged", 0)):
                raise E.HandlerError("unable to modify read-only option: 'unprivileged'")
            running = ct.status == "running"
            for key in revert or []:
                ct.pending.pop(key, None)
                if key in ct.pending_delete:
                    ct.pending_delete.remove(key)
            for key, value in params.items():
                value = _wire(value)
                if HOT_RE.match(key):
                    value = self._ct_net(str(value))
                elif key == "tags":
                    value = P.normalise_tags(str(value))
                if not running or key in FASTPLUG or key in HOTPLUG or HOT_RE.match(key):
                    ct.config[key] = value
                    ct.pending.pop(key, None)
                else:
                    ct.pending[key] = value
                if key in ct.pending_delete:
                    ct.pending_delete.remove(key)
            for key in delete or []:
                if key not in ct.config and key not in ct.pending:
                    continue
                if key == "rootfs":
                    raise E.HandlerError("unable to delete required option 'rootfs'")
                if running and key not in FASTPLUG and key not in HOTPLUG and not HOT_RE.match(key):
                    if key not in ct.pending_delete:
                        ct.pending_delete.append(key)
                    continue
                ct.config.pop(key, None)
                ct.pending.pop(key, None)

    def ct_resize(self, node: str, vmid: int, disk: str, size: str, user: str) -> str:
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            if ct.lock:
                raise E.locked(ct.lock)
            if disk not in ct.config:
                raise E.HandlerError(f"unable to resize '{disk}' - no such volume")

            def finish() -> None:
                mount = P.parse(str(ct.config[disk]), "volume")
                vol = self.volumes.get(self.vol_key(mount["volume"], ct.node))
                old = max(P.parse_size(mount.get("size", "0"))[1], vol.size if vol else 0)
                relative, amount = P.parse_size(size)
                new = old + amount if relative else amount
                if new < old:
                    raise E.HandlerError("unable to shrink disk size")
                if vol is not None:
                    free = self.storages[vol.storage].total - self.storage_used(vol.storage, ct.node)
                    if new - old > free:
                        raise E.HandlerError(f"storage '{vol.storage}' is full: cannot grow {disk}")
                    vol.size = new
                    self.usage.clear()
                mount["size"] = P.format_size(new)
                ct.config[disk] = P.dump(mount, "volume")

            return self.start_task(node, "resize", str(vmid), user, self.settings.durations.get("resize"), finish)

    # --- power -----------------------------------------------------------------------------------
    def ct_status(self, node: str, vmid: int) -> dict[str, Any]:
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            running = ct.status == "running"
            memory = int(ct.config.get("memory", 512))
            rootfs = P.parse(str(ct.config.get("rootfs", "")), "volume") if ct.config.get("rootfs") else {}
            out: dict[str, Any] = {
                "vmid": ct.vmid,
                "type": "lxc",
                "status": ct.status,
                "name": str(ct.config.get("hostname", f"CT{vmid}")),
                "cpus": int(ct.config.get("cores", self.nodes[node].maxcpu)),
                "maxmem": memory * MiB,
                "maxswap": int(ct.config.get("swap", 512)) * MiB,
                "maxdisk": P.parse_size(rootfs.get("size", "0"))[1],
                "mem": memory * MiB // 4 if running else 0,
                "swap": 0,
                "disk": 0,
                "cpu": 0.01 if running else 0,
                "uptime": int(self.clock() - ct.started_at) if running else 0,
                "diskread": 0,
                "diskwrite": 0,
                "netin": 0,
                "netout": 0,
                "ha": {"managed": 0},
            }
            if running:
                out["pid"] = 20000 + ct.vmid
            if ct.lock:
                out["lock"] = ct.lock
            if ct.config.get("tags"):
                out["tags"] = ct.config["tags"]
            if ct.is_template:
                out["template"] = 1
            return out

    def _ct_task(self, ct: Vm, ttype: str, user: str, finish: Any, allow_locks: tuple[str, ...] = ()) -> str:
        lock = ct.lock
        fn = finish
        if lock and lock not in allow_locks:

            def fn() -> None:
                raise E.HandlerError(f"CT is locked ({lock})")

        return self.start_task(ct.node, ttype, str(ct.vmid), user, self.settings.durations.get(ttype), fn)

    def _ct_boot(self, ct: Vm) -> None:
        if ct.is_template:
            raise E.HandlerError("you can't start a CT if it's a template")
        if ct.status == "running":
            raise E.HandlerError(f"CT {ct.vmid} already running")
        node = self.nodes[ct.node]
        used = sum(
            (int(v.config.get("memory", 512)) if v.kind == "lxc" else v.memory_mib())
            for v in self.vms.values()
            if v.node == ct.node and v.status == "running"
        )
        need = int(ct.config.get("memory", 512))
        if (used + need) * MiB > node.maxmem:
            raise E.HandlerError(f"startup for container '{ct.vmid}' failed: not enough memory on '{ct.node}'")
        ct.config.update(ct.pending)
        for key in ct.pending_delete:
            ct.config.pop(key, None)
        ct.pending, ct.pending_delete = {}, []
        ct.status, ct.qmpstatus, ct.started_at = "running", "running", self.clock()

    def _ct_halt(self, ct: Vm) -> None:
        ct.status, ct.qmpstatus = "stopped", "stopped"

    def ct_power(self, node: str, vmid: int, action: str, user: str) -> str:
        """start / stop / shutdown / reboot as ``vzstart`` … tasks; stop and shutdown need a running CT."""
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            if action == "start":
                return self._ct_task(ct, "vzstart", user, lambda: self._ct_boot(ct))
            if ct.status != "running":
                raise E.HandlerError(f"CT {vmid} not running")
            if action == "reboot":

                def reboot() -> None:
                    self._ct_halt(ct)
                    self._ct_boot(ct)

                return self._ct_task(ct, "vzreboot", user, reboot)
            ttype = {"stop": "vzstop", "shutdown": "vzshutdown"}[action]
            return self._ct_task(ct, ttype, user, lambda: self._ct_halt(ct), ("backup",) if action == "stop" else ())

    def ct_interfaces(self, node: str, vmid: int) -> list[dict[str, Any]]:
        """GET …/interfaces: what ``ip addr`` shows inside a running container (lo plus each veth)."""
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            if ct.status != "running":
                raise E.HandlerError(f"CT {vmid} not running")
            out = [{"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8", "inet6": "::1/128"}]
            for key in sorted(k for k in ct.config if HOT_RE.match(k)):
                net = P.parse(str(ct.config[key]))
                entry = {"name": net.get("name", "eth0"), "hwaddr": net.get("hwaddr", "").lower()}
                ip = self.ct_ipv4(ct, key)
                if ip:
                    entry["inet"] = f"{ip[0]}/{ip[1]}"
                out.append(entry)
            return out

    def ct_ipv4(self, ct: Vm, key: str = "net0") -> tuple[str, int] | None:
        """The container's IPv4 address and prefix: the static ``ip=`` of ``key``, else its DHCP lease."""
        if key not in ct.config:
            return None
        net = P.parse(str(ct.config[key]))
        ip = net.get("ip", "")
        if ip and ip not in ("dhcp", "manual"):
            addr, _, prefix = ip.partition("/")
            return addr, int(prefix or 24)
        if ip == "dhcp" and ct.status == "running":
            return self.lease_for(net.get("hwaddr", "")), self.settings.lease_net.prefixlen
        return None

    # --- destroy and migrate -----------------------------------------------------------------------
    def ct_destroy(self, node: str, vmid: int, user: str, force: bool = False) -> str:
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            if ct.lock:
                raise E.HandlerError(f"CT is locked ({ct.lock})")
            if ct.config.get("protection") in (1, "1"):
                raise E.HandlerError(f"can't remove CT {vmid} - protection mode enabled")
            if ct.status == "running" and not force:
                raise E.HandlerError(f"CT {vmid} is running - destroy failed")
            ct.config["lock"] = "destroyed"

            def finish() -> None:
                self._ct_halt(ct)
                self._drop_vm(ct)

            return self.start_task(node, "vzdestroy", str(vmid), user, self.settings.durations.get("vzdestroy"), finish)

    def ct_migrate(self, node: str, vmid: int, target: str, user: str, restart: bool = False) -> str:
        """POST …/migrate (``vzmigrate``): a running CT moves only with ``restart`` (stop, move, start)."""
        with self.lock:
            self.tick()
            ct = self.ct(node, vmid)
            self.node(target)
            if ct.lock:
                raise E.HandlerError(f"CT is locked ({ct.lock})")
            if target == node:
                raise E.HandlerError("target is local node.")
            running = ct.status == "running"
            if running and not restart:
                raise E.HandlerError("lxc live migration is currently not implemented")
            ct.config["lock"] = "migrate"

            def finish() -> None:
                ct.config.pop("lock", None)
                if running:
                    self._ct_halt(ct)
                for (n, volid), vol in list(self.volumes.items()):  # local volumes are copied over
                    if vol.vmid == vmid and n == node:
                        del self.volumes[(n, volid)]
                        vol.node = target
                        self.volumes[(target, volid)] = vol
                self.usage.clear()
                ct.node = target
                if running:
                    self._ct_boot(ct)

            return self.start_task(node, "vzmigrate", str(vmid), user, self.settings.durations.get("vzmigrate"), finish)
