"""PVE property strings (``virtio=AA:..,bridge=vmbr0``) and disk sizes; pure functions."""

from __future__ import annotations

import re

SIZE_RE = re.compile(r"^(\+?)(\d+(?:\.\d+)?)([KMGT]?)$")
UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
DISK_KEY_RE = re.compile(r"^(ide|sata|scsi|virtio)(\d+)$|^(efidisk0|tpmstate0)$")
NET_MODELS = (
    "virtio",
    "e1000",
    "e1000e",
    "rtl8139",
    "vmxnet3",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
)


def parse(text: str, default_key: str | None = None) -> dict[str, str]:
    """Split ``a=1,b=2`` into a dict; a bare leading value goes to ``default_key``."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part:
            continue  # PVE ignores empty segments (bpg sends a trailing comma)
        key, sep, value = part.partition("=")
        if not sep:
            if default_key is None or default_key in out:
                raise ValueError(f"invalid key in comma-separated list property: {part}")
            out[default_key] = part
        else:
            out[key] = value
    return out


def dump(items: dict[str, str], default_key: str | None = None) -> str:
    """Inverse of :func:`parse`; the default key's value is written bare and first."""
    parts = []
    if default_key and default_key in items:
        parts.append(str(items[default_key]))
    parts += [f"{k}={v}" for k, v in items.items() if k != default_key]
    return ",".join(parts)


def normalise_tags(value: str) -> str:
    """Tags as PVE stores them (``PVE::GuestHelpers::get_unique_tags``): split on ``;``, ``,`` and spaces,
    lower-cased, de-duplicated, sorted, joined with ``;``."""
    return ";".join(sorted({tag.lower() for tag in re.split(r"[;,\s]+", value) if tag}))


def parse_size(text: str) -> tuple[bool, int]:
    """``+2G`` -> (True, 2 GiB); bare numbers are bytes."""
    m = SIZE_RE.match(text.strip())
    if not m:
        raise ValueError(f"unable to parse size '{text}'")
    return bool(m.group(1)), int(float(m.group(2)) * UNITS[m.group(3)])


def format_size(size: int) -> str:
    """Bytes -> PVE's compact ``20G`` / ``512M`` / bytes text."""
    for unit in ("T", "G", "M", "K"):
        if size % UNITS[unit] == 0 and size >= UNITS[unit]:
            return f"{size // UNITS[unit]}{unit}"
    return str(size)


def is_disk_key(key: str) -> bool:
    return bool(DISK_KEY_RE.match(key))


def parse_drive(text: str) -> dict[str, str]:
    """A drive string; ``file`` is the default key."""
    return parse(text, "file")


def parse_net(text: str) -> dict[str, str]:
    """A NIC string: ``virtio=MAC`` is model plus macaddr; ``model=virtio`` also works."""
    raw = parse(text, "model")
    out: dict[str, str] = {}
    for key, value in raw.items():
        if key in NET_MODELS:
            out["model"], out["macaddr"] = key, value
        else:
            out[key] = value
    return out


def dump_net(net: dict[str, str]) -> str:
    """``<model>=<MAC>,bridge=..`` as PVE stores it."""
    rest = {k: v for k, v in net.items() if k not in ("model", "macaddr")}
    head = f"{net['model']}={net['macaddr']}"
    return ",".join([head] + [f"{k}={v}" for k, v in rest.items()])


def is_cloudinit(drive: str) -> bool:
    vol = parse_drive(drive).get("file", "")
    return vol.endswith(":cloudinit") or "-cloudinit" in vol


def is_cdrom(drive: str) -> bool:
    d = parse_drive(drive)
    return d.get("media") == "cdrom" or d.get("file") in ("cdrom", "none")


def volume_storage(volid: str) -> str | None:
    sid, sep, _ = volid.partition(":")
    return sid if sep else None
