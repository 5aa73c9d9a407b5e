"""Both allocation stores keep the same promises: idempotent per owner, no duplicate id or address
across concurrent processes, exact release; :func:`open_store` picks one from ``ALLOCATIONS_DB``."""

from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import pytest

from ipam.postgres import PostgresAllocationStore
from ipam.store import PoolSpec, SqliteAllocationStore, open_store
from tests.service.pg import Cluster

SPEC = PoolSpec(vmid_start=1000, vmid_end=1999, network="10.77.0.0/24", gateway="10.77.0.1", reserved=10)
POOL = "local/pve-eu1"


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'a.sqlite'}"
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(f"alloc_{uuid.uuid4().hex[:12]}")


def test_open_store_picks_the_backend_from_the_location(location: str) -> None:
    expected = PostgresAllocationStore if location.startswith("postgresql://") else SqliteAllocationStore
    assert isinstance(open_store(location), expected)
    assert "@" not in repr(open_store(location))  # a URL (and any password in it) never shows


def test_idempotent_per_owner_and_exact_release(location: str) -> None:
    store = open_store(location)
    first = store.allocate(POOL, "acme/0", SPEC, "pve1")
    assert store.allocate(POOL, "acme/0", SPEC, "pve2") == first == store.get(POOL, "acme/0")
    other = store.allocate(POOL, "acme/1", SPEC, "pve2")
    assert (other.vmid, other.address) != (first.vmid, first.address)
    assert store.release_exactly(first.__class__(POOL, "acme/0", first.vmid + 7, first.address, "pve1")) is False
    assert store.release_exactly(first) is True and store.get(POOL, "acme/0") is None
    assert store.all(POOL) == [other] and store.everything() == [other]
    assert store.release(POOL, "acme/1") is True and store.release(POOL, "acme/1") is False


def _allocate_many(args: tuple[str, int]) -> list[tuple[str, int, str]]:
    location, worker = args
    store = open_store(location)
    return [
        (a.owner, a.vmid, a.address)
        for a in (store.allocate(POOL, f"t{worker}-{i}/0", SPEC, "pve1") for i in range(10))
    ]


def test_concurrent_processes_never_share_an_id_or_address(location: str) -> None:
    open_store(location)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        rows = [row for chunk in pool.map(_allocate_many, [(location, w) for w in range(4)]) for row in chunk]
    assert len(rows) == 40
    assert len({r[1] for r in rows}) == 40 and len({r[2] for r in rows}) == 40
