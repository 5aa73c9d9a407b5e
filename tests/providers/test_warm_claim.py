"""Claiming warm-pool allocations in the store: one guarded update, never the same VM twice."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ipam.store import Allocation, PoolSpec, SqliteAllocationStore
from provisioning.warm_pool import READY, WARMING, is_warm_owner, warm_placement, warm_servers

SPEC = PoolSpec(1000, 1099, "10.77.0.0/24", "10.77.0.1")
POOL = "local/pve-eu1"


def _oldest_first(ready: list[Allocation]) -> list[Allocation]:
    return ready


def test_many_tenants_racing_for_few_ready_vms_get_each_vm_at_most_once(tmp_path: Path) -> None:
    store = SqliteAllocationStore(tmp_path / "alloc.sqlite")
    for n in range(3):
        store.allocate(POOL, f"{READY}{1000 + n}-abc{n}", SPEC, "pve1")
    store.allocate(POOL, f"{WARMING}2000-notyet", SPEC, "pve2")  # not ready: never claimed
    got: dict[str, int | None] = {}

    def claim(slug: str) -> None:
        made = store.claim(POOL, f"{slug}/0", READY, _oldest_first, lambda a: warm_placement(a.vmid, a.node, 1.0))
        got[slug] = made.vmid if made else None

    threads = [threading.Thread(target=claim, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [v for v in got.values() if v is not None]
    assert len(claimed) == 3 and len(set(claimed)) == 3
    rows = store.all(POOL)
    assert sorted(a.owner for a in rows if is_warm_owner(a.owner)) == [f"{WARMING}2000-notyet"]
    winners = {a.owner.split("/")[0]: a for a in rows if not is_warm_owner(a.owner)}
    assert set(winners) == {slug for slug, v in got.items() if v is not None}
    assert all(json.loads(a.placement)["warm"] for a in winners.values())


def test_a_server_that_holds_an_allocation_claims_nothing(tmp_path: Path) -> None:
    store = SqliteAllocationStore(tmp_path / "alloc.sqlite")
    store.allocate(POOL, f"{READY}1000-a", SPEC, "pve1")
    held = store.allocate(POOL, "acme/0", SPEC, "pve2")
    assert store.claim(POOL, "acme/0", READY, _oldest_first) is None
    assert store.get(POOL, "acme/0") == held and store.get(POOL, f"{READY}1000-a") is not None


def test_warm_servers_are_read_back_from_the_recorded_decision() -> None:
    rows = [
        Allocation(POOL, "acme/0", 1000, "10.77.0.11", "pve1", warm_placement(1000, "pve1", 0.0)),
        Allocation(POOL, "acme/1", 1001, "10.77.0.12", "pve2", json.dumps({"node": "pve2", "reason": "x"})),
        Allocation(POOL, "acmex/0", 1002, "10.77.0.13", "pve1", warm_placement(1002, "pve1", 0.0)),
        Allocation(POOL, "acme/2", 1003, "10.77.0.14", "pve3", "not json"),
    ]
    assert warm_servers(rows, "acme") == {0}
    assert is_warm_owner(f"{READY}1-x") and is_warm_owner(f"{WARMING}1-x") and not is_warm_owner("acme/0")


def test_the_pool_cannot_take_back_for_deletion_a_vm_a_tenant_claimed_meanwhile(tmp_path: Path) -> None:
    store = SqliteAllocationStore(tmp_path / "alloc.sqlite")
    store.allocate(POOL, f"{READY}1000-a", SPEC, "pve1")
    claimed = store.claim(POOL, "acme/0", READY, _oldest_first)
    assert claimed is not None
    assert not store.rename(POOL, f"{READY}1000-a", "~deleting/1000-a"), "the trim's guarded rename loses"
    assert store.get(POOL, "acme/0") is not None


def test_the_pools_vms_warming_or_ready_spread_as_one_tenant() -> None:
    from ipam.store import tenant_of

    assert tenant_of(f"{WARMING}1-a") == tenant_of(f"{READY}2-b") == tenant_of("~deleting/3-c") != tenant_of("acme/0")
    assert tenant_of("acme/0") == tenant_of("acme/3") == "acme"
