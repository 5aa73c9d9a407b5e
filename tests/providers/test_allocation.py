"""Allocation store, placement and the allocation provider's pure rules."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.naming import allocation_id
from ipam.placement import NodeLoad, PlacementError, choose_node, node_loads
from ipam.store import AllocationError, PoolSpec, SqliteAllocationStore
from providers.allocation import AllocationProvider
from providers.allocation_rules import check_inputs, diff_inputs

SPEC = PoolSpec(vmid_start=1000, vmid_end=1999, network="10.77.0.0/24", gateway="10.77.0.1", reserved=10)
POOL = "local/pve-eu1"  # pools are <env>/<region>, owners <slug>/<index>: both hold a slash
VALID = {
    "pool": "local",
    "owner": "acme/0",
    "vmid_start": 1000,
    "vmid_end": 1999,
    "network": "10.77.0.0/24",
    "gateway": "10.77.0.1",
    "reserved": 10,
    "nodes": ["pve1", "pve2"],
    "memory_mb": 2048,
}


def test_allocation_is_idempotent_per_owner(tmp_path: Path) -> None:
    store = SqliteAllocationStore(tmp_path / "a.sqlite")
    first = store.allocate("local", "acme/0", SPEC, "pve1")
    again = store.allocate("local", "acme/0", SPEC, "pve2")
    assert again == first
    other = store.allocate("local", "globex/0", SPEC, "pve2")
    assert (other.vmid, other.address) != (first.vmid, first.address)


def test_skips_reserved_addresses_gateway_and_foreign_vmids(tmp_path: Path) -> None:
    store = SqliteAllocationStore(tmp_path / "a.sqlite")
    got = store.allocate("local", "acme/0", SPEC, "pve1", foreign_vmids=[1000, 1001])
    assert got.vmid == 1002
    assert got.address == "10.77.0.11"  # .1-.10 reserved (the gateway among them)


def test_release_frees_for_reuse(tmp_path: Path) -> None:
    store = SqliteAllocationStore(tmp_path / "a.sqlite")
    first = store.allocate("local", "acme/0", SPEC, "pve1")
    assert store.release("local", "acme/0") is True
    assert store.release("local", "acme/0") is False
    assert store.allocate("local", "globex/0", SPEC, "pve1").vmid == first.vmid


def test_exhaustion_says_what_to_widen(tmp_path: Path) -> None:
    store = SqliteAllocationStore(tmp_path / "a.sqlite")
    tiny = PoolSpec(1000, 1000, "10.77.0.0/24", "10.77.0.1")
    store.allocate("local", "a/0", tiny, "pve1")
    with pytest.raises(AllocationError, match="vmid range"):
        store.allocate("local", "b/0", tiny, "pve1")


def _allocate_many(args: tuple[str, int]) -> list[tuple[str, int, str]]:
    path, worker = args
    store = SqliteAllocationStore(path)
    return [
        (a.owner, a.vmid, a.address)
        for a in (store.allocate("local", f"t{worker}-{i}/0", SPEC, "pve1") for i in range(10))
    ]


def test_concurrent_processes_never_share_an_id_or_address(tmp_path: Path) -> None:
    path = str(tmp_path / "a.sqlite")
    SqliteAllocationStore(path)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        rows = [row for chunk in pool.map(_allocate_many, [(path, w) for w in range(4)]) for row in chunk]
    assert len(rows) == 40
    assert len({r[1] for r in rows}) == 40 and len({r[2] for r in rows}) == 40


def test_choose_node_prefers_most_free_memory_and_skips_offline() -> None:
    loads = [
        NodeLoad("pve1", True, 16384, 8192),
        NodeLoad("pve2", True, 16384, 1024),
        NodeLoad("pve3", False, 65536, 0),
    ]
    assert choose_node(loads, ["pve1", "pve2", "pve3"], 2048) == "pve2"


def test_choose_node_explains_every_refusal() -> None:
    loads = [NodeLoad("pve1", True, 4096, 4000), NodeLoad("pve3", False, 65536, 0)]
    with pytest.raises(PlacementError) as err:
        choose_node(loads, ["pve1", "pve2", "pve3"], 2048)
    text = str(err.value)
    assert "pve1: 96 MiB free" in text and "pve2: not in the cluster" in text and "pve3: offline" in text


def test_node_loads_take_the_nodes_use_plus_stopped_vms_but_not_templates() -> None:
    nodes = [{"node": "pve1", "status": "online", "maxmem": 8 * 2**30, "mem": 3 * 2**30}]
    vms = [
        {"node": "pve1", "maxmem": 2 * 2**30, "status": "running"},  # already in the node's 3 GiB
        {"node": "pve1", "maxmem": 1 * 2**30, "status": "stopped"},
        {"node": "pve1", "maxmem": 4 * 2**30, "template": 1, "status": "stopped"},
    ]
    assert node_loads(nodes, vms) == [NodeLoad("pve1", True, 8192, 4096)]


def test_node_loads_without_node_figures_name_the_missing_privilege() -> None:
    with pytest.raises(PlacementError, match=r"Sys.Audit on /nodes"):
        node_loads([{"node": "pve1", "status": "online"}], [])
    assert node_loads([{"node": "pve2", "status": "offline"}], []) == [NodeLoad("pve2", False, 0, 0)]


loads_st = st.lists(
    st.builds(
        NodeLoad, st.sampled_from(["a", "b", "c", "d"]), st.booleans(), st.integers(0, 65536), st.integers(0, 65536)
    ),
    unique_by=lambda n: n.name,
)


@given(loads_st, st.integers(1, 32768))
def test_chosen_node_is_online_candidate_with_room(loads: list[NodeLoad], memory: int) -> None:
    try:
        chosen = choose_node(loads, ["a", "b", "c"], memory)
    except PlacementError:
        assert all(not n.online or n.free_memory_mb < memory or n.name == "d" for n in loads)
        return
    load = next(n for n in loads if n.name == chosen)
    assert load.online and chosen != "d" and load.free_memory_mb >= memory

    def free_share_after(n: NodeLoad) -> float:
        return max(0.0, 1 - (n.committed_memory_mb + memory) / max(1, n.max_memory_mb))

    assert all(
        free_share_after(n) <= free_share_after(load) + 1e-9
        for n in loads
        if n.online and n.name != "d" and n.free_memory_mb >= memory
    ), "the node left with the largest share of its memory free wins"


def test_check_accepts_valid_and_names_bad_fields() -> None:
    assert check_inputs(VALID)[1] == []
    bad = {**VALID, "gateway": "10.99.0.1", "nodes": [], "memory_mb": 0}
    assert {p for p, _ in check_inputs(bad)[1]} == {"gateway", "nodes", "memory_mb"}


@given(st.dictionaries(st.sampled_from(sorted(VALID)), st.integers(0, 5) | st.text(max_size=5)))
def test_diff_laws(changes: dict[str, object]) -> None:
    news = {**VALID, **changes}
    assert diff_inputs(VALID, VALID) == ([], [])
    changed, replaces = diff_inputs(VALID, news)
    assert set(replaces) <= set(changed)
    assert set(changed) == {k for k in changes if changes[k] != VALID[k]}


def test_check_accepts_whole_floats_as_the_engine_sends_them() -> None:
    floats = {**VALID, "vmid_start": 1000.0, "vmid_end": 1999.0, "reserved": 10.0, "memory_mb": 2048.0}
    inputs, failures = check_inputs(floats)
    assert failures == []
    assert inputs["vmid_start"] == 1000 and isinstance(inputs["vmid_start"], int)


def test_placement_counts_memory_promised_to_allocations_without_vms(tmp_path: Path) -> None:
    from ipam.placement import with_pending

    store = SqliteAllocationStore(tmp_path / "a.sqlite")
    loads = [NodeLoad("pve1", True, 65536, 0), NodeLoad("pve2", True, 65536, 0)]
    nodes = [
        store.allocate(
            "us",
            f"globex/{i}",
            SPEC,
            lambda promised: choose_node(with_pending(loads, promised.memory_mb), ["pve1", "pve2"], 32768),
            memory_mb=32768,
        ).node
        for i in range(4)
    ]
    assert sorted(nodes) == ["pve1", "pve1", "pve2", "pve2"]
    with pytest.raises(PlacementError):
        store.allocate(
            "us",
            "globex/4",
            SPEC,
            lambda promised: choose_node(with_pending(loads, promised.memory_mb), ["pve1", "pve2"], 32768),
        )


def _provider_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SqliteAllocationStore:
    monkeypatch.setenv("ALLOCATIONS_DB", str(tmp_path / "a.sqlite"))
    return SqliteAllocationStore(tmp_path / "a.sqlite")


@pytest.mark.parametrize("legacy", [False, True], ids=["encoded-id", "pre-encoding-id"])
def test_provider_reads_and_releases_allocations_of_an_env_region_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, legacy: bool
) -> None:
    store = _provider_store(tmp_path, monkeypatch)
    held = store.allocate(POOL, "acme/0", SPEC, "pve1")
    other = store.allocate(POOL, "acme/1", SPEC, "pve2")
    id_ = f"{POOL}/acme/0" if legacy else allocation_id(POOL, "acme/0")
    props = {**VALID, "pool": POOL, "owner": "acme/0", "vmid": held.vmid, "address": held.address, "node": "pve1"}

    read = AllocationProvider().read(id_, props)
    assert read.id == id_  # refresh keeps it in state
    assert (read.outs["vmid"], read.outs["address"], read.outs["node"]) == (held.vmid, held.address, "pve1")

    AllocationProvider().delete(id_, props)
    assert store.get(POOL, "acme/0") is None
    assert store.all(POOL) == [other]  # the tenant's other server keeps its allocation
    assert AllocationProvider().read(id_, props).id == ""  # gone for real: refresh drops it
