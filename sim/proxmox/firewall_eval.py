"""What a VM's Proxmox firewall does with a packet: the rule semantics of ``pve-firewall``, applied to the
firewall configuration the API wrote (``/nodes/{node}/qemu/{vmid}/firewall/{options,rules,ipset}``).

The simulator moves no packets; this answers, for a packet described by its source address, protocol and
destination port, what the VM's firewall would decide (the isolation tests ask it). The semantics, from the
Proxmox VE admin guide's firewall chapter:

* A VM's firewall filters only when its options say ``enable=1`` and the NIC has ``firewall=1`` (PVE also needs
  the datacenter firewall on; operators enable it once, docs/security/network.md).
* Inbound: the enabled ``in`` rules in order; the first whose ``proto``, ``dport`` and ``source`` match decides
  (``ACCEPT``, ``DROP`` or ``REJECT``); none matching, ``policy_in`` (default ``DROP``).
* ``ipfilter=1`` (or an ``ipfilter-net0`` set) filters what the VM sends: the source address must be in the
  ``ipfilter-net0`` set (its ``nomatch`` entries excluded). A VM's own addresses are not added implicitly
  (only a container's are), so an empty set lets the VM send from no IPv4 address at all.
"""

from __future__ import annotations

import ipaddress
from typing import Any

ACTIONS = ("ACCEPT", "DROP", "REJECT")


def _ports(spec: str) -> list[tuple[int, int]]:
    """``22``, ``80,443``, ``8000:8080`` as (low, high) ranges."""
    ranges = []
    for part in str(spec).split(","):
        low, _, high = part.strip().partition(":")
        ranges.append((int(low), int(high or low)))
    return ranges


def _in_set(address: str, entries: list[dict[str, Any]]) -> bool:
    ip = ipaddress.ip_address(address)
    matched = False
    for entry in entries:
        network = ipaddress.ip_network(str(entry["cidr"]), strict=False)
        if ip in network:
            if int(entry.get("nomatch") or 0):
                return False
            matched = True
    return matched


def _source_matches(source: str, address: str, ipsets: dict[str, Any]) -> bool:
    if source.startswith("+"):
        return _in_set(address, ipsets.get(source[1:], {}).get("entries", []))
    return any(
        ipaddress.ip_address(address) in ipaddress.ip_network(part.strip(), strict=False) for part in source.split(",")
    )


def filtering(firewall: dict[str, Any], nic: str) -> bool:
    """Whether the VM's firewall filters this NIC's traffic at all."""
    return bool(int(firewall["options"].get("enable") or 0)) and "firewall=1" in nic


def inbound(firewall: dict[str, Any], nic: str, source: str, proto: str, dport: int) -> str:
    """``ACCEPT``, ``DROP`` or ``REJECT`` for a packet from ``source`` to the VM's ``proto``/``dport``."""
    if not filtering(firewall, nic):
        return "ACCEPT"
    for rule in firewall["rules"]:
        if not int(rule.get("enable") or 0) or rule.get("type") != "in" or rule.get("action") not in ACTIONS:
            continue
        if rule.get("proto") and rule["proto"] != proto:
            continue
        if rule.get("dport") and not any(lo <= dport <= hi for lo, hi in _ports(rule["dport"])):
            continue
        if rule.get("source") and not _source_matches(str(rule["source"]), source, firewall["ipsets"]):
            continue
        return str(rule["action"])
    return str(firewall["options"].get("policy_in") or "DROP")


def outbound_source_allowed(firewall: dict[str, Any], nic: str, source: str) -> bool:
    """Whether the VM may send a packet with source address ``source`` (the IP filter's anti-spoofing)."""
    if not filtering(firewall, nic):
        return True
    ipfilter = firewall["ipsets"].get("ipfilter-net0")
    if not int(firewall["options"].get("ipfilter") or 0) and ipfilter is None:
        return True
    return _in_set(source, (ipfilter or {}).get("entries", []))
