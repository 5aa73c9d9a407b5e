"""Pure rules of the DNS record provider: input validation/normalisation, diff, ids.

No I/O here, so Hypothesis can state laws about them (see tests/dns/test_dns_record_rules.py).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from components.naming import contains_unknown

RECORD_TYPES = ("A", "AAAA", "CNAME")
TTL_MIN, TTL_MAX, TTL_DEFAULT = 60, 86400, 300
INPUT_KEYS = ("zone", "name", "type", "content", "ttl")
REPLACE_KEYS = ("zone", "name", "type")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _hostname(value: str) -> str | None:
    """Lower-case FQDN with trailing dot, or None if not a valid host name."""
    name = value.strip().lower().rstrip(".")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return None
    return name + "."


def _relative_name(name: Any, zone: str) -> tuple[str, str | None]:
    """``name`` relative to ``zone`` (a trailing dot marks an FQDN), or a problem."""
    example = f"write a label such as 'acme' or an FQDN such as 'acme.{zone}'"
    if not isinstance(name, str):
        return "", f"{name!r} is not a host name; {example}"
    fqdn = _hostname(name) if name.strip().endswith(".") else _hostname(f"{name.strip()}.{zone}")
    if fqdn is None or not fqdn.endswith("." + zone):
        return "", f"{name!r} is not a host name below zone {zone!r}; {example}"
    relative = fqdn[: -len(zone) - 1]
    # 'acme.cloud.test' without the dot would silently become acme.cloud.test.cloud.test.
    if relative.endswith("." + zone[:-1]) or (relative == zone[:-1] and "." in relative):
        return "", f"{name!r} repeats the zone name; {example}"
    return relative, None


def _content(rtype: str, values: list[str]) -> tuple[list[str], str | None]:
    out: list[str] = []
    for value in values:
        try:
            if rtype == "A":
                out.append(str(ipaddress.IPv4Address(value.strip())))
            elif rtype == "AAAA":
                address = ipaddress.IPv6Address(value.strip())
                if address.scope_id:
                    raise ValueError("scoped address")
                out.append(address.compressed)
            else:
                target = _hostname(value)
                if target is None:
                    return [], f"{value!r} is not a valid host name for a CNAME target"
                out.append(target)
        except (ValueError, AttributeError):
            kind = "IPv4" if rtype == "A" else "IPv6"
            return [], f"{value!r} is not an {kind} address, as a type {rtype} record requires"
    if not out:
        return [], "at least one value is required"
    if rtype == "CNAME" and len(set(out)) > 1:
        return [], "a CNAME record has exactly one target"
    return sorted(set(out)), None


def check_record(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Validate and normalise record inputs; returns (inputs, [(property, reason), ...])."""
    out = dict(news)
    failures: list[tuple[str, str]] = []
    for checker in (_check_owner, _check_type_and_content, _check_ttl):
        failures += checker(news, out)
    return out, failures


def _check_owner(news: dict[str, Any], out: dict[str, Any]) -> list[tuple[str, str]]:
    if contains_unknown(news.get("zone")) or contains_unknown(news.get("name")):
        return []  # validated again once known, before create/update
    zone = _hostname(news["zone"]) if isinstance(news.get("zone"), str) else None
    if zone is None:
        return [("zone", f"{news.get('zone')!r} is not a zone name such as 'cloud.test.'")]
    out["zone"] = zone
    relative, problem = _relative_name(news.get("name"), zone)
    if problem:
        return [("name", problem)]
    out["name"] = relative
    return []


def _check_type_and_content(news: dict[str, Any], out: dict[str, Any]) -> list[tuple[str, str]]:
    if contains_unknown(news.get("type")):
        return []
    rtype = news.get("type")
    rtype = rtype.upper() if isinstance(rtype, str) else rtype
    if rtype not in RECORD_TYPES:
        return [("type", f"{news.get('type')!r} is not supported; allowed: {', '.join(RECORD_TYPES)}")]
    out["type"] = rtype
    raw = news.get("content")
    if contains_unknown(raw):
        return []
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return [("content", f"{raw!r} is not a string or a list of strings")]
    content, problem = _content(rtype, values)
    if problem:
        return [("content", problem)]
    out["content"] = content
    return []


def _check_ttl(news: dict[str, Any], out: dict[str, Any]) -> list[tuple[str, str]]:
    ttl = news.get("ttl")
    if contains_unknown(ttl):
        return []
    ttl = TTL_DEFAULT if ttl is None else ttl
    if isinstance(ttl, float) and ttl.is_integer():  # the engine sends numbers as floats
        ttl = int(ttl)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not TTL_MIN <= ttl <= TTL_MAX:
        return [("ttl", f"{ttl!r} is not a whole number of seconds from {TTL_MIN} to {TTL_MAX}")]
    out["ttl"] = ttl
    return []


def diff_record(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str], bool]:
    """(changed input keys, keys forcing replacement, delete_before_replace) for checked inputs."""
    changed = [k for k in INPUT_KEYS if contains_unknown(news.get(k)) or olds.get(k) != news.get(k)]
    replaces = [k for k in changed if k in REPLACE_KEYS]
    # Same owner name: the new copy would collide with (or be adopted from) the old one.
    # An owner not known yet in a preview might be the same, so assume it is.
    owner_unknown = contains_unknown(news.get("zone")) or contains_unknown(news.get("name"))
    same_owner = owner_unknown or fqdn_of(olds) == fqdn_of(news)
    return changed, replaces, bool(replaces) and same_owner


class UnmanagedRecordError(RuntimeError):
    """The record set to create exists with other contents: someone else's record, never overwritten."""


def adoption_conflict(inputs: dict[str, Any], existing: list[str] | tuple[str, ...] | None) -> str | None:
    """Why ``create`` must not take over the record set that exists with ``existing`` contents (None: adopt or create).

    A record set with exactly the desired contents is adopted (a crash between creating it and saving
    state is harmless); one with other contents belongs to someone else.
    """
    if existing is None or sorted(existing) == sorted(inputs["content"]):
        return None
    return (
        f"record {fqdn_of(inputs)} {inputs['type']} in zone {inputs['zone']} already exists with "
        f"{list(existing)} and is not managed by this stack; delete it or import it (pulumi import) "
        "before creating it here"
    )


def fqdn_of(inputs: dict[str, Any]) -> str:
    """The record's owner name, e.g. ``acme.cloud.test.``, from checked inputs."""
    return f"{inputs.get('name')}.{inputs.get('zone')}"


def record_id(inputs: dict[str, Any]) -> str:
    """Resource id ``<zone>/<fqdn>/<type>``."""
    return f"{inputs['zone']}/{fqdn_of(inputs)}/{inputs['type']}"


def parse_record_id(id_: str) -> tuple[str, str, str]:
    """Split a record id into (zone, fqdn, type); a clear error for ids from elsewhere."""
    parts = id_.split("/")
    if len(parts) != 3 or not parts[1].endswith("." + parts[0]) or parts[2] not in RECORD_TYPES:
        raise ValueError(f"DnsRecord id {id_!r} must look like 'cloud.test./acme.cloud.test./A' (<zone>/<fqdn>/<type>)")
    return parts[0], parts[1], parts[2]
