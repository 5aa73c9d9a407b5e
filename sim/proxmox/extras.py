"""Cluster and storage reads, pools, tasks, backups, firewall and the shared guest world."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING, Any

from . import exceptions as E
from . import firewall_eval
from .core import BackendCore
from .entities import GiB, MiB, Pool, Vm

VERSION = {"version": "9.0.3", "release": "9.0", "repoid": "025a7e7a8e1c5a2f"}


class ExtrasMixin(BackendCore):
    """Everything around the VMs."""

    if TYPE_CHECKING:
        # Provided by PowerMixin, Backend's sibling mixin; declared here for the type checker only, so the
        # method resolution order of Backend stays what it was.
        def status_current(self, node: str, vmid: int) -> dict[str, Any]: ...

        def agent_ready(self, vm: Vm) -> bool: ...

        def guest_ipv4(self, vm: Vm) -> tuple[str, int] | None: ...

    # --- cluster ---------------------------------------------------------------------------------
    def vm_resource(self, vm: Vm) -> dict[str, Any]:
        kind = vm.kind
        st = self.ct_status(vm.node, vm.vmid) if kind == "lxc" else self.status_current(vm.node, vm.vmid)  # type: ignore[attr-defined]
        node_up = self.nodes[vm.node].online
        out = {
            "id": f"{kind}/{vm.vmid}",
            "type": kind,
            "vmid": vm.vmid,
            "node": vm.node,
            "name": vm.config.get("hostname" if kind == "lxc" else "name", ""),
            "status": vm.status if node_up else "unknown",
            "template": 1 if vm.is_template else 0,
            "maxcpu": st["cpus"],
            "cpu": st["cpu"],
            "maxmem": st["maxmem"],
            "mem": st["mem"],
            "maxdisk": st["maxdisk"],
            "disk": 0,
            "netin": 0,
            "netout": 0,
            "diskread": 0,
            "diskwrite": 0,
            "uptime": st["uptime"],
        }
        for key in ("tags", "lock"):
            if vm.config.get(key):
                out[key] = vm.config[key]
        if vm.pool:
            out["pool"] = vm.pool
        return out

    def cluster_resources(self, rtype: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            out: list[dict[str, Any]] = []
            if rtype in (None, "node"):
                out += [self.node_entry(n) | {"id": f"node/{n}"} for n in self.nodes]
            if rtype in (None, "vm"):
                out += [self.vm_resource(vm) for vm in sorted(self.vms.values(), key=lambda v: v.vmid)]
            if rtype in (None, "storage"):
                for node in self.nodes:
                    for st in self.storages.values():
                        if st.on(node):
                            out.append(
                                {
                                    "id": f"storage/{node}/{st.sid}",
                                    "type": "storage",
                                    "storage": st.sid,
                                    "node": node,
                                    "plugintype": st.type,
                                    "status": "available",
                                    "shared": int(st.shared),
                                    "content": ",".join(st.content),
                                    "disk": self.storage_used(st.sid, node),
                                    "maxdisk": st.total,
                                }
                            )
            if rtype in (None, "pool"):
                out += [{"id": f"/pool/{p}", "type": "pool", "pool": p} for p in self.pools]
            return out

    def node_entry(self, name: str) -> dict[str, Any]:
        node = self.nodes[name]
        mem = sum(v.memory_mib() * MiB for v in self.vms.values() if v.node == name and v.status == "running")
        return {
            "node": name,
            "status": "online" if node.online else "offline",
            "type": "node",
            "id": f"node/{name}",
            "cpu": 0.05,
            "maxcpu": node.maxcpu,
            "mem": mem,
            "maxmem": node.maxmem,
            "disk": 4 * GiB,
            "maxdisk": 100 * GiB,
            "uptime": int(self.clock() - node.boot_time),
            "level": "",
            "ssl_fingerprint": "AA:" * 31 + "AA",
        }

    def node_status(self, name: str) -> dict[str, Any]:
        with self.lock:
            entry = self.node_entry(self.node(name).name)
            return {
                "cpu": entry["cpu"],
                "uptime": entry["uptime"],
                "loadavg": ["0.10", "0.12", "0.09"],
                "cpuinfo": {"cores": entry["maxcpu"], "cpus": entry["maxcpu"], "sockets": 1, "model": "Simulated CPU"},
                "memory": {
                    "total": entry["maxmem"],
                    "used": entry["mem"],
                    "free": entry["maxmem"] - entry["mem"],
                    "available": entry["maxmem"] - entry["mem"],
                },
                "rootfs": {
                    "total": entry["maxdisk"],
                    "used": entry["disk"],
                    "free": entry["maxdisk"] - entry["disk"],
                    "avail": entry["maxdisk"] - entry["disk"],
                },
                "pveversion": f"pve-manager/{VERSION['version']}/{VERSION['repoid']}",
                "kversion": "Linux 6.14.8-2-pve",
                "current-kernel": {"release": "6.14.8-2-pve", "sysname": "Linux", "machine": "x86_64"},
                "boot-info": {"mode": "efi"},
            }

    # --- storage ---------------------------------------------------------------------------------
    def storage_status(self, node: str, sid: str) -> dict[str, Any]:
        with self.lock:
            st = self.storage(sid, self.node(node).name)
            used = self.storage_used(sid, node)
            return {
                "storage": sid,
                "type": st.type,
                "content": ",".join(st.content),
                "active": 1,
                "enabled": 1,
                "shared": int(st.shared),
                "total": st.total,
                "used": used,
                "avail": st.total - used,
                "used_fraction": used / st.total if st.total else 0,
            }

    def storage_content(
        self, node: str, sid: str, content: str | None = None, vmid: int | None = None
    ) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            st = self.storage(sid, self.node(node).name)
            key_node = "" if st.shared else node
            return [
                self._vol_json(v)
                for (n, _), v in sorted(self.volumes.items())
                if n == key_node
                and v.storage == sid
                and (content is None or v.content == content)
                and (vmid is None or v.vmid == vmid)
            ]

    @staticmethod
    def _vol_json(v: Any) -> dict[str, Any]:
        out = {
            "volid": v.volid,
            "content": v.content,
            "format": v.format,
            "size": v.size,
            "used": v.size,
            "ctime": v.ctime,
        }
        if v.vmid is not None:
            out["vmid"] = v.vmid
        if v.content == "backup":
            out["subtype"] = "lxc" if "/vzdump-lxc-" in v.volid else "qemu"
            out["notes"] = v.notes
            if v.protected:
                out["protected"] = 1
        return out

    def volume_info(self, node: str, sid: str, volid: str) -> dict[str, Any]:
        with self.lock:
            if ":" not in volid:
                volid = f"{sid}:{volid}"
            vol = self.volumes.get(self.vol_key(volid, self.node(node).name))
            if vol is None:
                raise E.HandlerError(f"volume '{volid}' does not exist")
            name = volid.split(":", 1)[1]
            out: dict[str, Any] = {
                "path": f"/dev/pve/{name}" if vol.content == "images" else f"/var/lib/vz/dump/{name}",
                "format": vol.format,
                "size": vol.size,
                "used": vol.size,
            }
            if vol.content == "backup":
                out["notes"] = vol.notes
                out["protected"] = int(vol.protected)
            return out

    # --- pools -----------------------------------------------------------------------------------
    def pool_get(self, poolid: str) -> dict[str, Any]:
        with self.lock:
            self.tick()
            pool = self.pools.get(poolid)
            if pool is None:
                raise E.HandlerError(f"pool '{poolid}' does not exist")
            members = [self.vm_resource(self.vms[v]) for v in pool.vms if v in self.vms]
            for node in self.nodes:
                for sid in pool.storage:
                    if sid in self.storages and self.storages[sid].on(node):
                        members.append({"id": f"storage/{node}/{sid}", "type": "storage", "storage": sid, "node": node})
            return {"poolid": poolid, "comment": pool.comment, "members": members}

    def pool_create(self, poolid: str, comment: str = "") -> None:
        with self.lock:
            if poolid in self.pools:
                raise E.HandlerError(f"create pool failed: pool '{poolid}' already exists")
            self.pools[poolid] = Pool(poolid, comment)

    def pool_update(
        self,
        poolid: str,
        vms: list[int],
        storage: list[str],
        delete: bool = False,
        allow_move: bool = False,
        comment: str | None = None,
    ) -> None:
        with self.lock:
            pool = self.pools.get(poolid)
            if pool is None:
                raise E.HandlerError(f"pool '{poolid}' does not exist")
            if comment is not None:
                pool.comment = comment
            for vmid in vms:
                if vmid not in self.vms:
                    raise E.HandlerError(f"no such VM '{vmid}'")
                if delete:
                    if vmid in pool.vms:
                        pool.vms.remove(vmid)
                        self.vms[vmid].pool = None
                    continue
                current = self.vms[vmid].pool
                if current and current != poolid and not allow_move:
                    raise E.HandlerError(f"VM {vmid} is already a pool member")
                if current and current != poolid:
                    self.pools[current].vms.remove(vmid)
                self._pool_add(poolid, vmid)
            for sid in storage:
                if delete:
                    pool.storage = [s for s in pool.storage if s != sid]
                elif sid not in pool.storage:
                    pool.storage.append(sid)

    def pool_delete(self, poolid: str) -> None:
        with self.lock:
            pool = self.pools.get(poolid)
            if pool is None:
                raise E.HandlerError(f"pool '{poolid}' does not exist")
            if pool.vms or pool.storage:
                raise E.HandlerError("pool is not empty")
            del self.pools[poolid]

    # --- tasks -----------------------------------------------------------------------------------
    def task_list(
        self, node: str, vmid: int | None = None, typefilter: str | None = None, source: str = "archive"
    ) -> list[dict[str, Any]]:
        with self.lock:
            self.tick()
            self.node(node)
            tasks = [
                t
                for t in self.tasks.values()
                if t.node == node
                and (vmid is None or t.tid == str(vmid))
                and (typefilter is None or t.ttype == typefilter)
                and (source == "all" or (source == "active") == (t.status == "running"))
            ]
            return [t.list_json() for t in sorted(tasks, key=lambda t: -t.starttime)]

    def task_log(self, node: str, upid: str, start: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        with self.lock:
            self.tick()
            lines = self.task(node, upid).log
            return [{"n": i + 1, "t": t} for i, t in enumerate(lines)][start : start + limit], len(lines)

    # --- firewall --------------------------------------------------------------------------------
    def firewall(self, node: str, vmid: int, kind: str = "qemu") -> dict[str, Any]:
        """The guest's firewall (options, rules, IP sets); ``kind`` says which API path asked."""
        with self.lock:
            return (self.ct(node, vmid) if kind == "lxc" else self.vm(node, vmid)).firewall  # type: ignore[attr-defined]

    def packet_verdict(self, vmid: int, source: str, proto: str, dport: int) -> str:
        """What the VM's firewall does with an inbound packet (:func:`sim.proxmox.firewall_eval.inbound`)."""
        with self.lock:
            vm = self.vms[vmid]
            return firewall_eval.inbound(vm.firewall, str(vm.config.get("net0", "")), source, proto, dport)

    def may_send_from(self, vmid: int, source: str) -> bool:
        """Whether the VM may send with source address ``source`` (its IP filter)."""
        with self.lock:
            vm = self.vms[vmid]
            return firewall_eval.outbound_source_allowed(vm.firewall, str(vm.config.get("net0", "")), source)

    # --- shared world ----------------------------------------------------------------------------
    def guest_files(self, vm: Any) -> dict[str, str]:
        """Files written into the guest through its agent (on its boot disk); empty without a boot disk."""
        try:
            return dict(self.boot_volume(vm).files)  # type: ignore[attr-defined]
        except Exception:  # no boot disk (never started)
            return {}

    def _world_ct(self, ct: Vm) -> dict[str, Any]:
        """A container in sim.world's shape: root logs in with the keys in its rootfs' authorized_keys
        (written at create, kept by clones); no agent, so ``agent_ready`` is always False."""
        vol = self.ct_rootfs_volume(ct)  # type: ignore[attr-defined]
        keys = (vol.files if vol is not None else {}).get("/root/.ssh/authorized_keys", "")
        ip = self.ct_ipv4(ct)  # type: ignore[attr-defined]
        return {
            "vmid": ct.vmid,
            "node": ct.node,
            "name": str(ct.config.get("hostname", "")),
            "status": ct.status,
            "addresses": [ip[0]] if ip else [],
            "ciuser": "root",
            "ssh_keys": [k.strip() for k in keys.splitlines() if k.strip()],
            "tags": [t for t in str(ct.config.get("tags", "")).replace(",", ";").split(";") if t],
            "agent_ready": False,
        }

    def world_guests(self) -> list[dict[str, Any]]:
        """Every non-template guest in the shape of sim.world (see sim/world.py)."""
        with self.lock:
            self.tick()
            out = []
            for vm in sorted(self.vms.values(), key=lambda v: v.vmid):
                if vm.is_template or vm.lock in ("clone", "create", "destroyed"):
                    continue
                if vm.kind == "lxc":
                    out.append(self._world_ct(vm))
                    continue
                ci = vm.booted if vm.status == "running" and vm.booted else vm.config
                ip = self.guest_ipv4(vm)
                keys = urllib.parse.unquote(str(ci.get("sshkeys", "")))
                user = str(ci.get("ciuser", ""))
                # sshd reads the user's authorized_keys file; cloud-init wrote it at boot, the guest agent may
                # have rewritten it since (agent/file-write).
                written = self.guest_files(vm).get(f"/home/{user}/.ssh/authorized_keys") if user else None
                keys = written if written is not None else keys
                out.append(
                    {
                        "vmid": vm.vmid,
                        "node": vm.node,
                        "name": str(vm.config.get("name", "")),
                        "status": vm.status,
                        "addresses": [ip[0]] if ip else [],
                        "ciuser": str(ci.get("ciuser", "")),
                        "ssh_keys": [k.strip() for k in keys.splitlines() if k.strip()],
                        "tags": [t for t in str(vm.config.get("tags", "")).replace(",", ";").split(";") if t],
                        "agent_ready": self.agent_ready(vm),
                    }
                )
            return out
