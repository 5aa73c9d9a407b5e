"""The simulator's reading of a VM firewall configuration (pve-firewall's rule semantics)."""

from __future__ import annotations

from sim.proxmox.firewall_eval import inbound, outbound_source_allowed

NIC = "virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1"


def _fw(**options: object) -> dict:
    return {"options": {"enable": 1, **options}, "rules": [], "ipsets": {}}


def test_without_the_vm_firewall_or_the_nic_flag_nothing_is_filtered() -> None:
    fw = _fw()
    fw["options"]["enable"] = 0
    assert inbound(fw, NIC, "10.0.0.9", "tcp", 5432) == "ACCEPT"
    assert inbound(_fw(), NIC.replace("firewall=1", "firewall=0"), "10.0.0.9", "tcp", 5432) == "ACCEPT"


def test_the_first_matching_enabled_rule_decides_else_the_policy() -> None:
    fw = _fw(policy_in="DROP")
    fw["rules"] = [
        {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "22", "enable": 0},
        {"type": "in", "action": "REJECT", "proto": "tcp", "dport": "8000:8100", "enable": 1},
        {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "80,443", "enable": 1},
        {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "8080", "enable": 1},
        {"type": "out", "action": "ACCEPT", "enable": 1},
    ]
    assert inbound(fw, NIC, "192.0.2.1", "tcp", 22) == "DROP"  # its rule is disabled
    assert inbound(fw, NIC, "192.0.2.1", "tcp", 443) == "ACCEPT"
    assert inbound(fw, NIC, "192.0.2.1", "tcp", 8080) == "REJECT"  # the earlier range wins
    assert inbound(fw, NIC, "192.0.2.1", "udp", 80) == "DROP"
    assert inbound(_fw(policy_in="ACCEPT"), NIC, "192.0.2.1", "tcp", 1) == "ACCEPT"


def test_a_source_restricts_by_address_network_or_set() -> None:
    fw = _fw()
    fw["ipsets"]["ops"] = {"entries": [{"cidr": "10.8.0.0/16"}, {"cidr": "10.8.9.9", "nomatch": 1}]}
    fw["rules"] = [{"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "22", "source": "+ops", "enable": 1}]
    assert inbound(fw, NIC, "10.8.1.2", "tcp", 22) == "ACCEPT"
    assert inbound(fw, NIC, "10.8.9.9", "tcp", 22) == "DROP"  # nomatch
    assert inbound(fw, NIC, "10.9.0.1", "tcp", 22) == "DROP"


def test_ipfilter_allows_only_the_sets_addresses_and_none_without_entries() -> None:
    fw = _fw(ipfilter=1)
    assert not outbound_source_allowed(fw, NIC, "10.30.0.4")  # a VM's address is not implicit
    fw["ipsets"]["ipfilter-net0"] = {"entries": [{"cidr": "10.30.0.4"}]}
    assert outbound_source_allowed(fw, NIC, "10.30.0.4")
    assert not outbound_source_allowed(fw, NIC, "10.30.0.5")
    assert outbound_source_allowed(_fw(), NIC, "10.30.0.5")  # no filter asked for
