"""The simulated cluster's state and its building blocks, shared by every operation mixin.

Time is simulated lazily: every public call first completes the tasks whose end time has
passed (``tick``), so ``fast`` mode (duration 0) finishes tasks before the UPID is returned.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import threading
import time
import uuid
from collections.abc import Callable

from . import exceptions as E
from . import propstr as P
from .access import Access
from .entities import GiB, Node, Pool, Storage, Vm, Volume
from .multipart import Upload
from .seed import seed_cluster
from .tasks import Durations, Task, make_upid


class SimClock:
    """Wall-clock time plus an offset that operators move forward (``POST /_sim/clock``), so scheduled
    backup jobs fire and retention windows pass without waiting."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("advance: the simulated clock only moves forward")
        self.offset += seconds
        return self()


class Settings:
    """Run-time knobs; changeable through the admin API."""

    def __init__(self, speed: str | float = "fast", lease_cidr: str = "10.77.0.0/16") -> None:
        self.durations = Durations(speed)
        self.lease_net = ipaddress.ip_network(lease_cidr)
        self.lock_wait = {"clone": 1.0, "default": 10.0}
        self.nextid_range = (100, 1_000_000)
        self.auth_fail_delay = 0.0
        self.cluster_name = "simcluster"
        """What ``/cluster/status`` and the ticket login report (one name per simulated cluster)."""


class BackendCore:
    """The cluster's state and the building blocks every operation uses (mixed into ``backend.Backend``)."""

    def __init__(
        self,
        clock: Callable[[], float] | None = None,
        seed: int = 0,
        speed: str | float = "fast",
        lease_cidr: str = "10.77.0.0/16",
        nodes: int = 0,
    ) -> None:
        self.clock: Callable[[], float] = clock if clock is not None else SimClock()
        self.lock = threading.RLock()
        self.settings = Settings(speed, lease_cidr)
        self._seed = seed
        self.reset(seed, nodes)

    # --- lifecycle -------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, nodes: int = 0) -> None:
        """Forget everything (state, tasks, users); re-seed the RNG."""
        with self.lock:
            self._seed = self._seed if seed is None else seed
            self.rng = random.Random(self._seed)
            self.nodes: dict[str, Node] = {}
            self.storages: dict[str, Storage] = {}
            self.volumes: dict[tuple[str, str], Volume] = {}
            self.vms: dict[int, Vm] = {}
            self.pools: dict[str, Pool] = {}
            self.tasks: dict[str, Task] = {}
            self.running: dict[str, Task] = {}  # subset of tasks, so tick stays cheap
            self.usage: dict[tuple[str, str], int] = {}  # cache of storage_used; clear on direct edits
            self.file_locks: dict[int, float] = {}  # vmid -> held until (sim time)
            self.leases: dict[str, str] = {}  # MAC -> IPv4
            self.uploads: dict[str, Upload] = {}  # tmpfilename -> the spooled file, until an upload task takes it
            self.access = Access(pool_of=self.pool_of_path, clock=self.clock)
            self.faults_failing_tasks: dict[str, str] = {}  # task type -> error text
            self._pid = 0x10000
            if nodes:
                seed_cluster(self, nodes)

    def tick(self) -> None:
        """Complete every task whose end time has passed, oldest first."""
        now = self.clock()
        due = sorted((t for t in self.running.values() if t.end_at <= now), key=lambda t: t.end_at)
        for task in due:
            self.running.pop(task.upid, None)
            if task.status == "running":
                task.complete(now)

    # --- building blocks -------------------------------------------------------------------------
    def node(self, name: str) -> Node:
        node = self.nodes.get(name)
        if node is None:
            raise E.HandlerError(
                f"hostname lookup '{name}' failed - failed to get address info for: {name}: Name or service not known"
            )
        return node

    def vm(self, node: str, vmid: int) -> Vm:
        """The VM on ``node``, or PVE's "does not exist" error."""
        self.node(node)
        vm = self.vms.get(int(vmid))
        if vm is None or vm.node != node or vm.kind != "qemu":
            raise E.no_config(node, vmid)
        return vm

    def storage(self, sid: str, node: str | None = None) -> Storage:
        st = self.storages.get(sid)
        if st is None or (node and not st.on(node)):
            raise E.HandlerError(f"storage '{sid}' does not exist")
        return st

    def vol_key(self, volid: str, node: str) -> tuple[str, str]:
        st = self.storages.get(volid.split(":", 1)[0])
        return ("" if st is not None and st.shared else node, volid)

    def storage_used(self, sid: str, node: str) -> int:
        key = (sid, "" if self.storages[sid].shared else node)
        if key not in self.usage:
            self.usage[key] = sum(v.size for (n, _), v in self.volumes.items() if n == key[1] and v.storage == sid)
        return self.usage[key]

    def alloc_volume(
        self, sid: str, node: str, volid: str, size: int, vmid: int | None, content: str = "images", fmt: str = "raw"
    ) -> Volume:
        """Create a volume, or fail when the storage is full or lacks the content type."""
        st = self.storage(sid, node)
        if content not in st.content:
            raise E.HandlerError(f"storage '{sid}' does not support content-type '{content}'")
        free = st.total - self.storage_used(sid, node)
        if size > free:
            raise E.HandlerError(
                f"storage '{sid}' on node '{node}' is full: cannot allocate {size // GiB} GiB ({free // GiB} GiB free)"
            )
        vol = Volume(volid, "" if st.shared else node, size, fmt, content, vmid, int(self.clock()))
        self.volumes[self.vol_key(volid, node)] = vol
        self.usage[(sid, vol.node)] = self.usage.get((sid, vol.node), 0) + size
        return vol

    def free_volume(self, volid: str, node: str) -> None:
        vol = self.volumes.pop(self.vol_key(volid, node), None)
        if vol is not None:
            self.usage.clear()

    def next_disk_name(self, sid: str, node: str, vmid: int, prefix: str = "vm") -> str:
        n = 0
        while self.vol_key(f"{sid}:{prefix}-{vmid}-disk-{n}", node) in self.volumes:
            n += 1
        return f"{sid}:{prefix}-{vmid}-disk-{n}"

    def storage_digest(self) -> str:
        """SHA-1 of the storage configuration, as PVE reports the digest of storage.cfg."""
        text = json.dumps([s.to_json() for s in self.storages.values()], sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()

    def new_uuid(self) -> str:
        """A random (version 4) UUID in the dashed form PVE writes, from the simulator's seeded generator."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def random_mac(self) -> str:
        return "BC:24:11:" + ":".join(f"{self.rng.randrange(256):02X}" for _ in range(3))

    def lease_for(self, mac: str) -> str:
        """A stable DHCP-like lease from the configured pool."""
        if mac not in self.leases:
            taken = set(self.leases.values())
            net = self.settings.lease_net
            for offset in range(10, net.num_addresses - 1):
                addr = str(net.network_address + offset)
                if addr not in taken:
                    self.leases[mac] = addr
                    break
            else:
                raise E.HandlerError(f"DHCP pool {net} exhausted")
        return self.leases[mac]

    def pool_of_path(self, path: str) -> str | None:
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "vms" and parts[1].isdigit():
            vm = self.vms.get(int(parts[1]))
            return vm.pool if vm else None
        if len(parts) == 2 and parts[0] == "storage":
            return next((p.poolid for p in self.pools.values() if parts[1] in p.storage), None)
        return None

    # --- tasks -----------------------------------------------------------------------------------
    def start_task(
        self,
        node: str,
        ttype: str,
        tid: str,
        user: str,
        duration: float,
        finish: Callable[[], list[str] | None] | None,
        log: list[str] | None = None,
        delay: float = 0.0,
    ) -> str:
        """Register a worker task; ``finish`` runs when it ends. Returns the UPID."""
        now = self.clock()
        self._pid += self.rng.randrange(1, 64)
        upid = make_upid(node, self._pid, int(self.clock() * 100) & 0xFFFFFFF, int(now), ttype, tid, user)
        fault = self.faults_failing_tasks.get(ttype)
        if fault is not None:
            finish = self._failing(fault)
        task = Task(
            upid, node, ttype, tid, user, int(now), now + delay + duration, finish, log=log if log is not None else []
        )
        self.tasks[upid] = task
        self.running[upid] = task
        self.tick()
        return upid

    @staticmethod
    def _failing(message: str) -> Callable[[], None]:
        def fail() -> None:
            raise E.HandlerError(message)

        return fail

    def failed_task(self, node: str, ttype: str, tid: str, user: str, message: str) -> str:
        """A task that fails at once (errors detected inside the worker)."""
        upid = self.start_task(node, ttype, tid, user, 0.0, self._failing(message))
        return upid

    def acquire_file_lock(self, vmid: int, hold_until: float, wait: float) -> float:
        """Take the per-VM file lock; returns the delay until it is ours, or raises timeout."""
        now = self.clock()
        held = self.file_locks.get(vmid, 0.0)
        delay = max(0.0, held - now)
        if delay > wait:
            raise E.lock_timeout(vmid)
        self.file_locks[vmid] = max(held, now) + (hold_until - now)
        return delay

    def task(self, node: str, upid: str) -> Task:
        task = self.tasks.get(upid)
        if task is None or task.node != node:
            raise E.param_error("upid", "no such task")
        return task

    # --- VMs and their disks -----------------------------------------------------------------------
    def disks(self, vm: Vm) -> dict[str, dict[str, str]]:
        """Data disks (no CD-ROM, no cloud-init) by key."""
        return {
            k: P.parse_drive(str(v))
            for k, v in vm.config.items()
            if P.is_disk_key(k) and not P.is_cdrom(str(v)) and not P.is_cloudinit(str(v))
        }

    def uses_local_storage(self, vm: Vm) -> bool:
        for key, value in vm.config.items():
            if P.is_disk_key(key) and not (P.is_cdrom(str(value)) and not P.is_cloudinit(str(value))):
                sid = P.volume_storage(P.parse_drive(str(value)).get("file", ""))
                if sid and sid in self.storages and not self.storages[sid].shared:
                    return True
        return False

    def _drop_vm(self, vm: Vm) -> None:
        """Remove a VM with its volumes, pool membership and ACLs."""
        for (n, volid), vol in list(self.volumes.items()):
            if vol.vmid == vm.vmid and vol.content in ("images", "rootdir"):
                del self.volumes[(n, volid)]
        self.usage.clear()
        for pool in self.pools.values():
            if vm.vmid in pool.vms:
                pool.vms.remove(vm.vmid)
        self.access.acl = [a for a in self.access.acl if a.path != f"/vms/{vm.vmid}"]
        self.vms.pop(vm.vmid, None)
        self.file_locks.pop(vm.vmid, None)

    def _pool_add(self, poolid: str, vmid: int) -> None:
        pool = self.pools[poolid]
        if vmid not in pool.vms:
            pool.vms.append(vmid)
        self.vms[vmid].pool = poolid
