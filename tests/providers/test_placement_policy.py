"""The placement policy: refusals, spreading one tenant's servers, weighing memory, CPU and disk, explanations."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipam.placement import Decision, NodeLoad, PlacementError, PlacementRequest, decide, node_loads

GIB = 2**30
MIB = 2**20


def _node(name: str, free_mb: int = 8192, *, cpus: int = 8, cores: int = 0, disk: float | None = None) -> NodeLoad:
    return NodeLoad(name, True, 16384, 16384 - free_mb, cpus, cores, disk, 500.0 if disk is not None else None)


def test_a_tenants_second_server_goes_to_a_node_without_its_first_even_if_less_free() -> None:
    loads = [_node("pve1", 12000), _node("pve2", 6000), _node("pve3", 5000)]
    first = decide(loads, ["pve1", "pve2", "pve3"], PlacementRequest(2048, 2, tenant="acme"))
    assert first.node == "pve1"
    second = decide(loads, ["pve1", "pve2", "pve3"], PlacementRequest(2048, 2, tenant="acme", siblings={"pve1": 1}))
    assert second.node == "pve2"
    assert "no server of acme here yet" in second.reason


def test_doubling_up_only_when_no_other_node_fits_and_never_when_strict() -> None:
    loads = [_node("pve1", 12000), _node("pve2", 1000)]
    request = PlacementRequest(2048, tenant="acme", siblings={"pve1": 1})
    doubled = decide(loads, ["pve1", "pve2"], request)
    assert doubled.node == "pve1" and "fewest here (1)" in doubled.reason
    with pytest.raises(PlacementError, match="anti-affinity: every node that fits already holds a server of acme"):
        decide(loads, ["pve1", "pve2"], PlacementRequest(2048, tenant="acme", siblings={"pve1": 1}, strict_spread=True))


def test_unschedulable_nodes_are_refused_with_the_reason() -> None:
    loads = [_node("pve1", 15000), _node("pve2", 4000)]
    decision = decide(loads, ["pve1", "pve2"], PlacementRequest(2048, unschedulable={"pve1": "drained by ops"}))
    assert decision.node == "pve2"
    refused = {c.node: c for c in decision.candidates}["pve1"]
    assert refused.verdict == "refused" and refused.reason == "unschedulable (drained by ops)"
    with pytest.raises(PlacementError, match=r"pve1: unschedulable \(drained by ops\)"):
        decide(loads, ["pve1"], PlacementRequest(2048, unschedulable={"pve1": "drained by ops"}))


def test_cpu_and_datastore_space_weigh_in_and_a_full_datastore_refuses() -> None:
    busy_cpu = _node("pve1", 8192, cpus=4, cores=16, disk=400)
    idle_cpu = _node("pve2", 8192, cpus=4, cores=0, disk=400)
    assert decide([busy_cpu, idle_cpu], ["pve1", "pve2"], PlacementRequest(2048, 2, 20)).node == "pve2"
    full = _node("pve3", 16000, disk=10)
    decision = decide([full, busy_cpu], ["pve1", "pve3"], PlacementRequest(2048, 2, 20))
    assert decision.node == "pve1"
    assert {c.node: c.reason for c in decision.candidates}["pve3"].startswith("10 GiB free on the datastore")


def test_the_decision_round_trips_through_its_stored_form() -> None:
    decision = decide([_node("pve1"), _node("pve2", 100)], ["pve1", "pve2"], PlacementRequest(2048, tenant="acme"))
    stored = json.loads(decision.to_json())
    assert stored["node"] == "pve1" and [c["verdict"] for c in stored["candidates"]] == ["chosen", "refused"]
    assert Decision.summary_of(decision.to_json()) == decision.reason and decision.reason.startswith("pve1: ")
    assert Decision.summary_of(None) == "" and Decision.summary_of("not json") == ""


def test_node_loads_count_vcpus_and_the_datastores_free_space() -> None:
    nodes = [{"node": "pve1", "status": "online", "maxmem": 16 * GIB, "mem": 2 * GIB, "maxcpu": 8}]
    vms = [
        {"node": "pve1", "vmid": 101, "status": "running", "maxmem": 2 * GIB, "maxcpu": 2},
        {"node": "pve1", "vmid": 102, "status": "stopped", "maxmem": 4 * GIB, "maxcpu": 4},
        {"node": "pve1", "vmid": 9000, "template": 1, "status": "stopped", "maxmem": 1 * GIB, "maxcpu": 1},
    ]
    storages = [{"node": "pve1", "storage": "local-lvm", "maxdisk": 100 * GIB, "disk": 30 * GIB}]
    assert node_loads(nodes, vms, storages) == [NodeLoad("pve1", True, 16384, 2048 + 4096, 8, 6, 70.0, 100.0)]


names = st.sampled_from(["a", "b", "c", "d"])


@given(
    st.lists(st.builds(_node, names, st.integers(0, 16384)), unique_by=lambda n: n.name, min_size=1),
    st.dictionaries(names, st.integers(0, 3)),
    st.integers(1, 8192),
)
def test_never_two_servers_on_one_node_when_another_node_fits(
    loads: list[NodeLoad], siblings: dict[str, int], memory: int
) -> None:
    candidates = [n.name for n in loads]
    try:
        decision = decide(loads, candidates, PlacementRequest(memory, siblings=siblings))
    except PlacementError:
        assert all(n.free_memory_mb < memory for n in loads)
        return
    fits = [n.name for n in loads if n.free_memory_mb >= memory]
    assert decision.node in fits
    assert siblings.get(decision.node, 0) == min(siblings.get(n, 0) for n in fits)
