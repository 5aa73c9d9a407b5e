"""``prune-backups`` retention: parsing and PVE's marking of one backup group (PVE::Storage::prune_mark_backup_group).

Newest first, protected backups are left out; then keep-last, keep-hourly, keep-daily, keep-weekly,
keep-monthly and keep-yearly in turn each keep the newest backup of as many not yet covered periods as
they allow; everything left unmarked is removed. ``keep-all=1`` keeps everything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

KEEP_ORDER = ("keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly")
PERIOD: dict[str, Callable[[float], str]] = {
    "keep-last": lambda ctime: str(ctime),
    "keep-hourly": lambda ctime: time.strftime("%Y/%m/%d/%H", time.gmtime(ctime)),
    "keep-daily": lambda ctime: time.strftime("%Y/%m/%d", time.gmtime(ctime)),
    "keep-weekly": lambda ctime: time.strftime("%G/%V", time.gmtime(ctime)),
    "keep-monthly": lambda ctime: time.strftime("%Y/%m", time.gmtime(ctime)),
    "keep-yearly": lambda ctime: time.strftime("%Y", time.gmtime(ctime)),
}


class PruneOptionError(ValueError):
    """A ``prune-backups`` value PVE refuses."""


def parse_keep(value: str | dict[str, Any] | None) -> dict[str, int]:
    """``keep-daily=7,keep-weekly=4`` (or the decoded mapping) -> {option: count}; empty = keep all."""
    if value is None or value == "":
        return {"keep-all": 1}
    items = value.items() if isinstance(value, dict) else (p.split("=", 1) for p in str(value).split(",") if p)
    out: dict[str, int] = {}
    for key, raw in items:
        key = key.strip()
        if key not in (*KEEP_ORDER, "keep-all"):
            raise PruneOptionError(f"invalid format - unknown property '{key}'")
        try:
            out[key] = int(raw)
        except (TypeError, ValueError):
            raise PruneOptionError(f"invalid format - {key}: type check ('integer') failed - got '{raw}'") from None
        if out[key] < 0:
            raise PruneOptionError(f"invalid format - {key}: value must have a minimum value of 0")
    if out.get("keep-all") and len(out) > 1:
        raise PruneOptionError("keep-all cannot be set together with other options.")
    return out


def dump_keep(keep: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(keep.items()))


def mark(backups: list[dict[str, Any]], keep: dict[str, int]) -> dict[str, str]:
    """volid -> ``keep`` | ``remove`` | ``protected`` for one group (dicts with volid, ctime, protected)."""
    ordered = sorted(backups, key=lambda b: -b["ctime"])
    marks: dict[str, str] = {b["volid"]: "protected" for b in ordered if b.get("protected")}
    candidates = [b for b in ordered if b["volid"] not in marks]
    if keep.get("keep-all") or not any(keep.get(k) for k in KEEP_ORDER):
        marks.update({b["volid"]: "keep" for b in candidates})
        return marks
    for option in KEEP_ORDER:
        count = keep.get(option, 0)
        if not count:
            continue
        period = PERIOD[option]
        covered = {period(b["ctime"]) for b in candidates if marks.get(b["volid"]) == "keep"}
        newly: set[str] = set()
        for backup in candidates:
            pid = period(backup["ctime"])
            if backup["volid"] in marks or pid in covered:
                continue
            if pid not in newly:
                if len(newly) >= count:
                    break
                newly.add(pid)
                marks[backup["volid"]] = "keep"
            else:
                marks[backup["volid"]] = "remove"
    for backup in candidates:
        marks.setdefault(backup["volid"], "remove")
    return marks
