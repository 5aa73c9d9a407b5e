"""SQLite files and state directories that hold secrets or customer data are owner-only, whatever the umask.

Tenant declarations are never written to disk (tests/service/test_declarations.py)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing.adapter.sink import SuspensionTimers
from billing.adapter.store import BillingStore
from billing.config import BillingConfig
from ipam.store import SqliteAllocationStore
from provisioning.toolchain import backend_url
from service.queue.sqlite import SqliteQueue
from storage.private_files import private_sqlite


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: SqliteAllocationStore(p),
        lambda p: SqliteQueue(p),
        lambda p: BillingStore(p, BillingConfig(prices={})),
        lambda p: SuspensionTimers(p),
    ],
    ids=["allocations", "queue", "billing", "timers"],
)
def test_sqlite_stores_are_owner_only_with_their_wal(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "state" / "nested" / "store.sqlite"
    make(db)
    assert mode(db) == 0o600
    assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
    for extra in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if extra.exists():
            assert mode(extra) == 0o600, extra


def test_an_existing_world_readable_store_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    SqliteAllocationStore(db)
    wal = db.with_name(db.name + "-wal")
    wal.touch()
    os.chmod(db, 0o644)
    os.chmod(wal, 0o644)
    private_sqlite(db)
    assert mode(db) == 0o600 and mode(wal) == 0o600


def test_file_state_backend_is_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'state' / 'backend'}")
    backend_url()
    assert mode(tmp_path / "state" / "backend") == 0o700 and mode(tmp_path / "state") == 0o700
