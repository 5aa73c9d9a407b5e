"""Plain entity classes of the simulated cluster, each with ``to_json`` for persistence."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

GiB = 1024**3
MiB = 1024**2


@dataclass
class Node:
    """A cluster node with CPU and memory capacity."""

    name: str
    maxcpu: int = 16
    maxmem: int = 64 * GiB
    online: bool = True
    boot_time: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Storage:
    """A storage; ``nodes`` None means available on every node; local ones are per node."""

    sid: str
    type: str
    content: list[str]
    total: int
    shared: bool = False
    nodes: list[str] | None = None
    path: str | None = None

    def on(self, node: str) -> bool:
        return self.nodes is None or node in self.nodes

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Volume:
    """A volume: VM disk image, cloud-init drive or backup archive."""

    volid: str
    node: str  # "" for shared storage
    size: int
    format: str = "raw"
    content: str = "images"
    vmid: int | None = None
    ctime: int = 0
    archive: dict[str, Any] | None = None  # backups: the saved config and each disk's files
    notes: str = ""
    protected: bool = False
    files: dict[str, str] = field(default_factory=dict)
    """Guest files on this disk (path -> text), written through the guest agent; copied by clones,
    saved by vzdump and brought back by restores, so tests can prove whose data a disk holds."""

    @property
    def storage(self) -> str:
        return self.volid.split(":", 1)[0]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Vm:
    """A QEMU guest. ``config`` holds wire-typed values (ints for integers, strings otherwise)."""

    vmid: int
    node: str
    config: dict[str, Any]
    pending: dict[str, Any] = field(default_factory=dict)
    pending_delete: list[str] = field(default_factory=list)
    status: str = "stopped"
    qmpstatus: str = "stopped"
    started_at: float = 0.0
    agent_ready_at: float | None = None
    booted: dict[str, Any] = field(default_factory=dict)  # cloud-init values applied at last boot
    cloudinit_image: dict[str, Any] = field(default_factory=dict)  # values the cloud-init drive was built from
    pool: str | None = None
    firewall: dict[str, Any] = field(default_factory=lambda: {"options": {}, "rules": [], "ipsets": {}})
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    """name -> {config, parent, snaptime, description, vmstate}: the config sections qemu-server keeps."""
    kind: str = "qemu"
    """``qemu`` (a VM) or ``lxc`` (a container): one VMID space, two APIs (``/qemu`` and ``/lxc``)."""

    @property
    def lock(self) -> str | None:
        return self.config.get("lock")

    def pending_items(self) -> list[dict[str, Any]]:
        """``GET …/pending`` of a VM or container: every key with its value, pending value and pending delete."""
        out = []
        for key in sorted(set(self.config) | set(self.pending) | set(self.pending_delete)):
            item: dict[str, Any] = {"key": key}
            if key in self.config:
                item["value"] = self.config[key]
            if key in self.pending:
                item["pending"] = self.pending[key]
            if key in self.pending_delete:
                item["delete"] = 1
            out.append(item)
        return out

    @property
    def is_template(self) -> bool:
        return bool(int(self.config.get("template", 0) or 0))

    def memory_mib(self) -> int:
        text = str(self.config.get("memory", "512"))
        return int(text.split("=")[-1].split(",")[0])

    def cores(self) -> int:
        return int(self.config.get("cores", 1)) * int(self.config.get("sockets", 1))

    def digest(self) -> str:
        return hashlib.sha1(json.dumps([self.config, self.pending], sort_keys=True).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Pool:
    """A resource pool."""

    poolid: str
    comment: str = ""
    vms: list[int] = field(default_factory=list)
    storage: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
