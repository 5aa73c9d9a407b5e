"""UPIDs, task records and task durations (speed profiles changeable at run time)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-F]{8}):([0-9A-F]{8,9}):([0-9A-F]{8}):"
    r"([^:\s/]+):([^:\s]*):([^:\s/]+):$"
)

# Seconds. Full clones add per-GiB time on top of their base.
REALISTIC: dict[str, float] = {
    "qmclone": 2.0,
    "qmclone_full": 5.0,
    "qmclone_per_gib": 0.5,
    "qmcreate": 2.0,
    "qmrestore": 8.0,
    "qmstart": 1.5,
    "agent_boot": 20.0,
    "qmstop": 0.5,
    "qmshutdown": 4.0,
    "qmreboot": 6.0,
    "qmpause": 0.3,
    "qmsuspend": 3.0,
    "qmresume": 0.3,
    "qmreset": 0.5,
    "resize": 1.0,
    "qmdestroy": 1.0,
    "qmtemplate": 1.0,
    "imgcopy": 1.0,
    "imgdel": 0.5,
    "qmsnapshot": 1.0,
    "qmdelsnapshot": 1.0,
    "qmrollback": 2.0,
    "qmigrate": 5.0,
    "qmmove": 5.0,
    "vzdump": 10.0,
    "qmconfig": 0.5,
}
PROFILES = {"realistic": 1.0, "fast": 0.0}


class Durations:
    """Task durations: the realistic table times a scale (0 = instant)."""

    def __init__(self, speed: str | float = "fast", overrides: dict[str, float] | None = None) -> None:
        self.table = dict(REALISTIC)
        self.table.update(overrides or {})
        self.scale = 0.0
        self.set_speed(speed)

    def set_speed(self, speed: str | float) -> None:
        """``fast``, ``realistic`` or a float multiplier of the realistic table."""
        if isinstance(speed, str) and speed in PROFILES:
            self.scale = PROFILES[speed]
        else:
            try:
                self.scale = float(speed)
            except (TypeError, ValueError):
                raise ValueError(f"speed: expected fast, realistic or a number, got {speed!r}") from None
            if self.scale < 0:
                raise ValueError("speed: must not be negative")

    def get(self, kind: str, gib: float = 0.0) -> float:
        """Duration of a task of ``kind`` (for full clones, ``gib`` of disk copied)."""
        base = self.table.get(kind, 0.5)
        if kind == "qmclone_full":
            base += gib * self.table["qmclone_per_gib"]
        return base * self.scale

    def describe(self) -> dict[str, Any]:
        return {"scale": self.scale, "table": dict(self.table)}


def make_upid(node: str, pid: int, pstart: int, starttime: int, ttype: str, tid: str, user: str) -> str:
    """PVE's exact UPID text (§4.1), trailing colon included."""
    return f"UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{ttype}:{tid}:{user}:"


def parse_upid(upid: str) -> dict[str, Any] | None:
    """Decode a UPID, or None if it is malformed."""
    m = UPID_RE.match(upid)
    if not m:
        return None
    return {
        "node": m.group(1),
        "pid": int(m.group(3), 16),
        "pstart": int(m.group(4), 16),
        "starttime": int(m.group(5), 16),
        "type": m.group(6),
        "id": m.group(7),
        "user": m.group(8),
    }


@dataclass
class Task:
    """One worker task; ``finish`` runs when the simulated clock reaches ``end_at``."""

    upid: str
    node: str
    ttype: str
    tid: str
    user: str
    starttime: int
    end_at: float
    finish: Callable[[], list[str] | None] | None = None
    status: str = "running"
    exitstatus: str | None = None
    endtime: int | None = None
    log: list[str] = field(default_factory=list)

    def complete(self, now: float) -> None:
        """Run the finisher; a raised error becomes the exit status."""
        warnings: list[str] = []
        try:
            if self.finish is not None:
                warnings = self.finish() or []
        except Exception as exc:  # any failure becomes the task's exit status
            msg = getattr(exc, "message", str(exc)).replace("\n", " ")
            self.fail(msg, now)
            return
        for w in warnings:
            self.log.append(f"WARN: {w}")
        self.exitstatus = f"WARNINGS: {len(warnings)}" if warnings else "OK"
        self.log.append(f"TASK {self.exitstatus}")
        self._stop(now)

    def fail(self, msg: str, now: float) -> None:
        self.exitstatus = msg
        self.log.append(f"TASK ERROR: {msg}")
        self._stop(now)

    def _stop(self, now: float) -> None:
        self.status = "stopped"
        self.endtime = int(now)
        self.finish = None

    def status_json(self) -> dict[str, Any]:
        """Body of GET /nodes/{n}/tasks/{upid}/status."""
        info = parse_upid(self.upid) or {}
        out: dict[str, Any] = {
            "upid": self.upid,
            "node": self.node,
            "pid": info.get("pid", 0),
            "pstart": info.get("pstart", 0),
            "starttime": self.starttime,
            "type": self.ttype,
            "id": self.tid,
            "status": self.status,
        }
        user, _, token = self.user.partition("!")
        out["user"] = user
        if token:
            out["tokenid"] = token
        if self.status == "stopped":
            out["exitstatus"] = self.exitstatus
        return out

    def list_json(self) -> dict[str, Any]:
        """An entry of GET /nodes/{n}/tasks.

        As pve-manager's ``PVE::API2::Tasks::node_tasks``: entries read from the task index (finished tasks)
        split a token's ``user@realm!name`` into ``user`` and ``tokenid`` like the status does; entries of the
        active list (running tasks) are not converted and keep the full id in ``user``.
        """
        out = self.status_json()
        out.pop("exitstatus", None)
        if self.status != "stopped":
            out.pop("tokenid", None)
            out["user"] = self.user
        if self.status == "stopped":
            out["status"] = self.exitstatus
            out["endtime"] = self.endtime
        else:
            out.pop("status")
        return out
