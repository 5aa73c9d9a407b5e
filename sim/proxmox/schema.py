"""pve-apidoc.json: route lookup and generic parameter validation (CONTRACT §3.1)."""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import propstr as P
from .exceptions import ParamError

INT_RE = re.compile(r"^[+-]?\d+$")
NUM_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
INDEXED_RE = re.compile(r"^([a-z]+)(\d+)$")
RANGES = {
    "net": 32,
    "ipconfig": 32,
    "scsi": 31,
    "virtio": 16,
    "sata": 6,
    "ide": 4,
    "serial": 4,
    "parallel": 3,
    "usb": 14,
    "hostpci": 16,
    "numa": 8,
    "virtiofs": 10,
    "unused": 256,
    "mp": 256,
}
DNS_RE = re.compile(
    r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)$"
)
FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "pve-vmid": (re.compile(r"^[1-9][0-9]{2,8}$"), "value does not look like a valid VM ID"),
    "pve-node": (
        re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$"),
        "value does not look like a valid node name",
    ),
    "dns-name": (DNS_RE, "value does not look like a valid DNS name"),
    "pve-storage-id": (re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$"), "storage ID '{v}' contains illegal characters"),
    "pve-poolid": (re.compile(r"^[A-Za-z0-9_\-]+$"), "pool ID '{v}' contains illegal characters"),
    "urlencoded": (re.compile(r"^[-%a-zA-Z0-9_.!~*'()]*$"), "invalid urlencoded string: {v}"),
    "mac-addr": (re.compile(r"^[a-fA-F0-9]{2}(:[a-fA-F0-9]{2}){5}$"), "value does not look like a valid MAC address"),
    "disk-size": (re.compile(r"^\d+(\.\d+)?[KMGT]?$"), "unable to parse size '{v}'"),
    "pve-configid": (re.compile(r"^[a-z][a-z0-9_\-]+$"), "invalid configuration ID '{v}'"),
    "pve-tokenid": (re.compile(r"^[A-Za-z][A-Za-z0-9.\-_]+$"), "invalid token ID '{v}'"),
    "pve-userid": (
        re.compile(r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+$"),
        "value '{v}' does not look like a valid user name",
    ),
}
LIST_FORMATS = {
    "pve-configid-list": "pve-configid",
    "pve-vmid-list": "pve-vmid",
    "pve-storage-id-list": "pve-storage-id",
    "pve-node-list": "pve-node",
}
TAG_RE = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.I)


REPO_APIDOC = Path(__file__).resolve().parents[2] / "reference" / "proxmox" / "pve-apidoc.json"


def apidoc_path() -> Path:
    """$PVE_APIDOC, else the copy kept in the repository (``reference/proxmox/pve-apidoc.json``)."""
    env = os.environ.get("PVE_APIDOC")
    return Path(env) if env else REPO_APIDOC


class Schema:
    """The API tree, with lookup by method and concrete path."""

    def __init__(self, path: Path | None = None) -> None:
        with open(path or apidoc_path(), encoding="utf-8") as fh:
            tree = json.load(fh)
        self.trie: dict[str, Any] = {}
        self.by_path: dict[str, dict[str, Any]] = {}
        stack = list(tree)
        while stack:
            node = stack.pop()
            stack.extend(node.get("children", []))
            self.by_path[node["path"]] = node.get("info", {})
            cur = self.trie
            for seg in [s for s in node["path"].split("/") if s]:
                cur = cur.setdefault(seg, {})
            cur["__path__"] = node["path"]

    def lookup(self, segments: list[str]) -> tuple[str, dict[str, str]] | None:
        """Match path segments to a template; returns (template, path params)."""

        def walk(cur: dict[str, Any], i: int, params: dict[str, str]) -> tuple[str, dict[str, str]] | None:
            if i == len(segments):
                return (cur["__path__"], params) if "__path__" in cur else None
            seg = segments[i]
            if seg in cur and not seg.startswith("{"):
                hit = walk(cur[seg], i + 1, params)
                if hit:
                    return hit
            for key, sub in cur.items():
                if key.startswith("{"):
                    hit = walk(sub, i + 1, {**params, key[1:-1]: seg})
                    if hit:
                        return hit
            return None

        return walk(self.trie, 0, {})

    def method(self, template: str, verb: str) -> dict[str, Any] | None:
        return self.by_path.get(template, {}).get(verb)


@lru_cache(maxsize=1)
def default_schema() -> Schema:
    return Schema()


def _prop_for(props: dict[str, Any], key: str) -> dict[str, Any] | None:
    if key in props:
        return props[key]
    m = INDEXED_RE.match(key)
    if m and f"{m.group(1)}[n]" in props and int(m.group(2)) < RANGES.get(m.group(1), 32):
        return props[f"{m.group(1)}[n]"]
    return None


def validate(info: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` against a method's schema; returns typed values or raises ParamError."""
    spec = info.get("parameters", {})
    props = spec.get("properties", {})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, value in params.items():
        prop = _prop_for(props, key)
        if prop is None:
            if spec.get("additionalProperties", 1) != 0:
                out[key] = value
            else:
                errors[key] = "property is not defined in schema and the schema does not allow additional properties"
            continue
        try:
            out[key] = check_value(prop, value)
        except ValueError as exc:
            errors[key] = str(exc).replace("{param}", key)
    for key, spec_prop in props.items():
        if "[n]" in key:
            continue
        if not spec_prop.get("optional") and key not in params and "default" not in spec_prop:
            errors.setdefault(key, "property is missing and it is not optional")
        if key in params and spec_prop.get("requires") and spec_prop["requires"] not in params:
            errors.setdefault(spec_prop["requires"], f"missing property required by '{key}'")
    if errors:
        raise ParamError(errors)
    return out


def check_value(prop: dict[str, Any], value: Any) -> Any:
    """One parameter: type, format (before range), pattern, length, range, enum."""
    if isinstance(value, list):
        fmt = prop.get("format")
        value = ",".join(map(str, value)) if isinstance(fmt, str) and fmt.endswith("-list") else value[-1]
    ptype = prop.get("type", "string")
    typed = _check_type(ptype, value)
    if ptype == "string":
        _check_format(prop.get("format"), typed)
        pattern = prop.get("pattern")
        if pattern and not re.fullmatch(pattern.replace("(?^:", "(?:").replace("(?^i:", "(?i:"), typed):
            raise ValueError("value does not match the regex pattern")
        if "maxLength" in prop and len(typed) > int(prop["maxLength"]):
            raise ValueError(f"value may only be {prop['maxLength']} characters long")
        if "minLength" in prop and len(typed) < int(prop["minLength"]):
            raise ValueError(f"value must be at least {prop['minLength']} characters long")
    elif ptype in ("integer", "number"):
        if isinstance(prop.get("format"), str) and prop["format"] == "pve-vmid":
            _check_format("pve-vmid", str(typed))
        if "minimum" in prop and typed < float(prop["minimum"]):
            raise ValueError(f"value must have a minimum value of {prop['minimum']}")
        if "maximum" in prop and typed > float(prop["maximum"]):
            raise ValueError(f"value must have a maximum value of {prop['maximum']}")
    if "enum" in prop and str(typed) not in [str(e) for e in prop["enum"]]:
        raise ValueError(f"value '{typed}' does not have a value in the enumeration '{', '.join(prop['enum'])}'")
    return typed


def _check_type(ptype: str, value: Any) -> Any:
    if ptype == "integer":
        if isinstance(value, bool) or not (isinstance(value, int) or INT_RE.match(str(value))):
            raise ValueError(f"type check ('integer') failed - got '{value}'")
        return int(value)
    if ptype == "number":
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or NUM_RE.match(str(value))):
            raise ValueError(f"type check ('number') failed - got '{value}'")
        return float(value)
    if ptype == "boolean":
        if value is True or value is False:
            return int(value)
        if str(value) in ("1", "0"):
            return int(value)
        raise ValueError(f"type check ('boolean') failed - got '{value}'")
    if ptype in ("array", "object"):
        if not isinstance(value, (list, dict)):
            raise ValueError(f"type check ('{ptype}') failed")
        return value
    if isinstance(value, (dict, list)):
        raise ValueError(f"type check ('string') failed - got '{value}'")
    return str(value)


def _check_format(fmt: Any, value: str) -> None:
    if isinstance(fmt, dict):
        _check_propstring(fmt, value)
        return
    if not isinstance(fmt, str):
        return
    if fmt in LIST_FORMATS:
        for item in re.split(r"[,;\s\0]+", value):
            if item:
                _check_format(LIST_FORMATS[fmt], item)
        return
    if fmt == "pve-tag-list":
        for tag in re.split(r"[;,\s]+", value):
            if tag and not TAG_RE.match(tag):
                raise ValueError(f"invalid format - invalid tag '{tag}'\n")
        return
    if fmt == "pve-qm-ipconfig":
        _check_propstring({k: {"optional": 1, "type": "string"} for k in ("ip", "gw", "ip6", "gw6")}, value)
        return
    spec = FORMATS.get(fmt)
    if spec and not spec[0].match(value):
        raise ValueError("invalid format - " + spec[1].format(v=value) + "\n")


def _check_propstring(fmt: dict[str, Any], value: str) -> None:
    """Property string keys, aliases and nested types/enums."""
    default_key = next((k for k, v in fmt.items() if v.get("default_key")), None)
    try:
        items = P.parse(value, default_key)
    except ValueError as exc:
        raise ValueError(f"invalid format - {exc}\n") from None
    for key, val in items.items():
        spec = fmt.get(key)
        if spec is None:
            raise ValueError(f"invalid format - invalid key in comma-separated list property: {key}\n")
        if "keyAlias" in spec or "alias" in spec:
            spec = fmt.get(spec["alias"], {})
        try:
            check_value(spec, val)
        except ValueError as exc:
            raise ValueError(f"invalid format - format error\n{{param}}.{key}: {exc}") from None
