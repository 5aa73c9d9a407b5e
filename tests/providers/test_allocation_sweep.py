"""Which allocations their owners still hold, the orphan sweep's rules and the capacity left (no engine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.environment import load_environment
from ipam.store import PoolSpec, SqliteAllocationStore
from provisioning.allocations import (
    HELD,
    LOCKED,
    ORPHAN,
    UNKNOWN,
    Recorded,
    SweepRefused,
    capacity,
    env_allocations,
    free_orphans,
    judge,
    recorded,
)
from provisioning.toolchain import PROJECT_DIR

SPEC = PoolSpec(vmid_start=1000, vmid_end=1999, network="10.77.0.0/24", gateway="10.77.0.1", reserved=10)
POOL = "local/pve-eu1"


class States:
    """Stacks as a backend would show them: names, recorded allocations, locks (mutable by the test)."""

    def __init__(self, recorded: dict[str, Recorded], locked: set[str] = frozenset(), readable: bool = True) -> None:
        self.recorded_by_stack = recorded
        self.locked_stacks = set(locked)
        self.readable = readable
        self.reads: list[str] = []

    def names(self) -> set[str]:
        return set(self.recorded_by_stack)

    def recorded(self, stack: str) -> Recorded:
        self.reads.append(stack)
        return self.recorded_by_stack[stack]

    def locked(self, stack: str) -> bool | None:
        return stack in self.locked_stacks if self.readable else None


def _deployment(*owners: tuple[str, str], pending: tuple[str, str] | None = None, vmid: int = 0) -> dict:
    def res(pool: str, owner: str) -> dict:
        return {
            "type": "pulumi-python:dynamic/ipam:Allocation",
            "urn": f"urn:{owner}",
            "outputs": {"pool": pool, "owner": owner, "vmid": 1000},
        }

    out = {
        "resources": [
            {"type": "pulumi:pulumi:Stack", "outputs": {"pool": "x", "owner": "y/0"}},
            {"type": "proxmoxve:index/vmLegacy:VmLegacy", "id": str(vmid)},
            *(res(*o) for o in owners),
        ]
    }
    if pending:
        out["pending_operations"] = [
            {
                "type": "creating",
                "resource": {**res(*pending), "outputs": {}, "inputs": {"pool": pending[0], "owner": pending[1]}},
            }
        ]
    return out


def test_recorded_reads_resources_pending_operations_and_vms() -> None:
    got = recorded(_deployment((POOL, "acme/0"), pending=(POOL, "acme/1"), vmid=1234))
    assert got == Recorded({(POOL, "acme/0"), (POOL, "acme/1")}, {1234})


@pytest.fixture
def store(tmp_path: Path) -> SqliteAllocationStore:
    store = SqliteAllocationStore(tmp_path / "a.sqlite")
    for owner in ("acme/0", "acme/1", "gone/0", "busy/0", "odd-owner"):
        store.allocate(POOL, owner, SPEC, "pve1")
    store.allocate("prod/pve-eu1", "gone/0", SPEC, "pve1")  # another environment: never touched
    return store


def _states() -> States:
    return States(
        {
            "local.acme": Recorded({(POOL, "acme/0")}, set()),
            "local.busy": Recorded(set(), set()),
            "local": Recorded(set(), set()),
        },
        locked={"local.busy"},
    )


def test_judge_proves_orphans_from_the_stacks_only(store: SqliteAllocationStore) -> None:
    verdicts = {j.allocation.owner: j.verdict for j in judge("local", env_allocations(store, "local"), _states())}
    assert verdicts == {"acme/0": HELD, "acme/1": ORPHAN, "gone/0": ORPHAN, "busy/0": LOCKED, "odd-owner": UNKNOWN}


def test_dry_run_lists_orphans_and_changes_nothing(store: SqliteAllocationStore) -> None:
    before = store.everything()
    orphans = free_orphans(store, "local", _states(), dry_run=True)
    assert sorted(j.allocation.owner for j in orphans) == ["acme/1", "gone/0"]
    assert store.everything() == before


def test_free_orphans_frees_only_orphans(store: SqliteAllocationStore) -> None:
    freed = free_orphans(store, "local", _states(), dry_run=False)
    assert sorted(j.allocation.owner for j in freed) == ["acme/1", "gone/0"]
    assert sorted(a.owner for a in store.all(POOL)) == ["acme/0", "busy/0", "odd-owner"]
    assert [a.owner for a in store.all("prod/pve-eu1")] == ["gone/0"]


def test_sweep_rechecks_a_stack_that_became_busy(store: SqliteAllocationStore) -> None:
    states = _states()
    orphans = free_orphans(store, "local", states, dry_run=True)
    states.locked_stacks.add("local.acme")  # an update of acme started after the dry run
    states.recorded_by_stack["local.gone"] = Recorded({(POOL, "gone/0")}, set())  # gone came back, holds its row
    freed = free_orphans(store, "local", states, dry_run=False)
    assert orphans and freed == []
    assert len(store.all(POOL)) == 5


def test_unreadable_locks_and_an_empty_backend_free_nothing(store: SqliteAllocationStore) -> None:
    unreadable = States(_states().recorded_by_stack, readable=False)
    assert [j.allocation.owner for j in free_orphans(store, "local", unreadable, dry_run=False)] == ["gone/0"]
    assert len(store.all(POOL)) == 4  # only the stack that does not exist at all was provable
    with pytest.raises(SweepRefused, match="PULUMI_BACKEND_URL"):
        free_orphans(store, "local", States({}), dry_run=False)
    assert len(store.all(POOL)) == 4


def test_capacity_counts_what_is_left_per_region(store: SqliteAllocationStore) -> None:
    environment = load_environment(PROJECT_DIR, "local")
    rows = {c.pool: c for c in capacity(environment, env_allocations(store, "local"))}
    eu = environment.regions["pve-eu1"]
    assert rows[POOL].allocated == 5
    assert rows[POOL].free_vmids == eu.vmid_end - eu.vmid_start + 1 - 5
    store.release(POOL, "acme/1")
    after = {c.pool: c for c in capacity(environment, env_allocations(store, "local"))}
    assert after[POOL].free_vmids == rows[POOL].free_vmids + 1
    assert after[POOL].free_addresses == rows[POOL].free_addresses + 1


def test_a_vm_the_stack_records_keeps_its_allocation(store: SqliteAllocationStore) -> None:
    """A refresh before ids were encoded dropped Allocations from state while their VMs stayed."""
    vmid = store.get(POOL, "acme/1").vmid  # type: ignore[union-attr]
    states = States({"local.acme": Recorded(set(), {vmid})})
    verdicts = {
        j.allocation.owner: j.verdict
        for j in judge("local", env_allocations(store, "local"), states)
        if j.allocation.owner.startswith("acme/")
    }
    assert verdicts == {"acme/0": ORPHAN, "acme/1": HELD}
