"""Power state, status/current and the QEMU guest agent (mixed into the Backend)."""

from __future__ import annotations

from typing import Any

from . import exceptions as E
from . import propstr as P
from .core import BackendCore
from .entities import MiB, Vm

CI_KEYS = ("ciuser", "sshkeys", "ipconfig0", "nameserver", "searchdomain", "name")


def agent_enabled(vm: Vm) -> bool:
    text = str(vm.config.get("agent", "0"))
    return P.parse(text, "enabled").get("enabled", "0") in ("1", "true")


class PowerMixin(BackendCore):
    """start/stop/shutdown/reboot/suspend/resume as tasks; status and agent reads."""

    def status_current(self, node: str, vmid: int) -> dict[str, Any]:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            running = vm.status == "running"
            maxdisk = max([P.parse_size(d.get("size", "0"))[1] for d in self.disks(vm).values()] or [0])
            out: dict[str, Any] = {
                "vmid": vm.vmid,
                "status": vm.status,
                "qmpstatus": vm.qmpstatus,
                "name": vm.config.get("name", f"VM {vmid}"),
                "cpus": vm.cores(),
                "maxmem": vm.memory_mib() * MiB,
                "maxdisk": maxdisk,
                "mem": vm.memory_mib() * MiB // 3 if running else 0,
                "cpu": 0.02 if running else 0,
                "uptime": int(self.clock() - vm.started_at) if running else 0,
                "diskread": 0,
                "diskwrite": 0,
                "netin": 0,
                "netout": 0,
                "ha": {"managed": 0},
            }
            if running:
                out["pid"] = 10000 + vm.vmid
                out["running-machine"] = "pc-i440fx-9.0+pve0"
                out["running-qemu"] = "9.0.2"
            if vm.lock:
                out["lock"] = vm.lock
            if vm.config.get("tags"):
                out["tags"] = vm.config["tags"]
            if vm.is_template:
                out["template"] = 1
            if agent_enabled(vm):
                out["agent"] = 1
            return out

    def _power_task(
        self, node: str, vmid: int, ttype: str, user: str, finish: Any, allow_locks: tuple[str, ...] = ()
    ) -> str:
        vm = self.vm(node, vmid)
        lock = vm.lock
        fn = finish
        if lock and lock not in allow_locks:

            def fn() -> None:
                raise E.locked(lock)

        return self.start_task(node, ttype, str(vmid), user, self.settings.durations.get(ttype), fn)

    def start(self, node: str, vmid: int, user: str) -> str:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            return self._power_task(node, vmid, "qmstart", user, lambda: self._boot(vm), ("suspended",))

    def _boot(self, vm: Vm) -> None:
        if vm.is_template:
            raise E.HandlerError("you can't start a vm if it's a template")
        if vm.status == "running":
            raise E.HandlerError(f"VM {vm.vmid} already running")
        node = self.nodes[vm.node]
        used = sum(v.memory_mib() for v in self.vms.values() if v.node == vm.node and v.status == "running")
        if (used + vm.memory_mib()) * MiB > node.maxmem:
            raise E.HandlerError(
                f"start failed: not enough memory on node '{vm.node}' for VM {vm.vmid} "
                f"({vm.memory_mib()} MiB needed, {node.maxmem // MiB - used} MiB free)"
            )
        self._apply_pending(vm)
        vm.config.pop("lock", None) if vm.lock == "suspended" else None
        vm.status, vm.qmpstatus, vm.started_at = "running", "running", self.clock()
        vm.booted = {k: vm.config.get(k) for k in CI_KEYS if k in vm.config}
        vm.agent_ready_at = self.clock() + self.settings.durations.get("agent_boot") if agent_enabled(vm) else None
        mac = P.parse_net(str(vm.config.get("net0", "virtio=00:00:00:00:00:00"))).get("macaddr", "")
        if self._static_ip(vm) is None and mac:
            self.lease_for(mac)

    def _apply_pending(self, vm: Vm) -> None:
        vm.config.update(vm.pending)
        for key in vm.pending_delete:
            vm.config.pop(key, None)
        vm.pending, vm.pending_delete = {}, []

    def _halt(self, vm: Vm) -> None:
        vm.status, vm.qmpstatus, vm.agent_ready_at = "stopped", "stopped", None

    def stop(self, node: str, vmid: int, user: str) -> str:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            return self._power_task(node, vmid, "qmstop", user, lambda: self._halt(vm))

    def shutdown(self, node: str, vmid: int, user: str, force_stop: bool = False) -> str:
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.qmpstatus == "paused" and not force_stop:
                raise E.HandlerError("VM is paused - cannot shutdown")
            return self._power_task(node, vmid, "qmshutdown", user, lambda: self._halt(vm))

    def _running_vm(self, node: str, vmid: int) -> Vm:
        """The VM, which must be running (reboot, suspend and resume refuse otherwise, as PVE does)."""
        vm = self.vm(node, vmid)
        if vm.status != "running":
            raise E.HandlerError(f"VM {vmid} not running")
        return vm

    def reboot(self, node: str, vmid: int, user: str) -> str:
        with self.lock:
            self.tick()
            vm = self._running_vm(node, vmid)

            def finish() -> None:
                self._halt(vm)
                self._boot(vm)

            return self._power_task(node, vmid, "qmreboot", user, finish)

    def suspend(self, node: str, vmid: int, user: str, todisk: bool = False) -> str:
        with self.lock:
            self.tick()
            vm = self._running_vm(node, vmid)

            def finish() -> None:
                if todisk:
                    self._halt(vm)
                    vm.config["lock"] = "suspended"
                else:
                    vm.qmpstatus = "paused"

            return self._power_task(node, vmid, "qmsuspend" if todisk else "qmpause", user, finish)

    def resume(self, node: str, vmid: int, user: str) -> str:
        with self.lock:
            self.tick()
            vm = self._running_vm(node, vmid)

            def finish() -> None:
                vm.qmpstatus = "running"

            return self._power_task(node, vmid, "qmresume", user, finish)

    # --- guest agent -----------------------------------------------------------------------------
    def _static_ip(self, vm: Vm, source: dict[str, Any] | None = None) -> str | None:
        ipconf = P.parse(str((source or vm.config).get("ipconfig0", "")))
        ip = ipconf.get("ip", "dhcp")
        return None if ip in ("dhcp", "") else ip

    def guest_ipv4(self, vm: Vm) -> tuple[str, int] | None:
        """The IPv4 address and prefix the guest has (booted static ipconfig0, else the lease)."""
        static = self._static_ip(vm, vm.booted if vm.booted else None)
        if static:
            addr, _, prefix = static.partition("/")
            return addr, int(prefix or 24)
        mac = P.parse_net(str(vm.config.get("net0", ""))).get("macaddr") if vm.config.get("net0") else None
        if mac and mac in self.leases:
            return self.leases[mac], self.settings.lease_net.prefixlen
        return None

    def agent_ready(self, vm: Vm) -> bool:
        return (
            vm.status == "running"
            and vm.qmpstatus == "running"
            and agent_enabled(vm)
            and vm.agent_ready_at is not None
            and self.clock() >= vm.agent_ready_at
        )

    def agent(self, node: str, vmid: int, command: str) -> dict[str, Any]:
        """Agent calls; PVE's exact errors before boot or without an agent."""
        with self.lock:
            self.tick()
            vm = self.vm(node, vmid)
            if vm.status != "running":
                raise E.HandlerError(f"VM {vmid} is not running")
            if "agent" not in vm.config:
                raise E.HandlerError("No QEMU guest agent configured")
            if not self.agent_ready(vm):
                raise E.HandlerError("QEMU guest agent is not running")
            if command == "network-get-interfaces":
                return {"result": self._interfaces(vm)}
            if command == "get-host-name":
                return {"result": {"host-name": str(vm.booted.get("name", vm.config.get("name", "")))}}
            if command == "info":
                return {"result": {"version": "8.2.2", "supported_commands": []}}
            return {"result": {}}

    def _interfaces(self, vm: Vm) -> list[dict[str, Any]]:
        stats = dict.fromkeys(
            ("rx-bytes", "rx-dropped", "rx-errs", "rx-packets", "tx-bytes", "tx-dropped", "tx-errs", "tx-packets"), 0
        )
        out = [
            {
                "name": "lo",
                "hardware-address": "00:00:00:00:00:00",
                "statistics": dict(stats),
                "ip-addresses": [
                    {"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8},
                    {"ip-address": "::1", "ip-address-type": "ipv6", "prefix": 128},
                ],
            }
        ]
        if "net0" in vm.config:
            mac = P.parse_net(str(vm.config["net0"])).get("macaddr", "").lower()
            addrs = []
            ip = self.guest_ipv4(vm)
            if ip:
                addrs.append({"ip-address": ip[0], "ip-address-type": "ipv4", "prefix": ip[1]})
            out.append({"name": "eth0", "hardware-address": mac, "ip-addresses": addrs, "statistics": dict(stats)})
        return out
