"""The one transaction helper: writers take SQLite's lock up front, duplicates are recognised on both
backends, errors are described without secrets, and an unreachable PostgreSQL names the setting only."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import describe, is_unique_violation, open_database, transaction
from storage.engine import create_engine
from storage.schema.keys import run_key


def _row(key_id: str) -> dict[str, object]:
    return {"key_id": key_id, "name": "n", "stack": "s", "minted_at": 1.0, "state": "active"}


def test_a_writer_takes_the_sqlite_write_lock_at_begin(tmp_path: Path) -> None:
    """A second writer waits at BEGIN (and gives up after its busy timeout) while readers carry on."""
    path = tmp_path / "keys.sqlite"
    open_database(path, "keys")
    impatient = create_engine(path, busy_timeout=0.2)
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with transaction(create_engine(path), write=True):  # no statement yet: the lock is taken by BEGIN itself
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(10)
        with pytest.raises(OperationalError, match="database is locked") as locked:
            with transaction(impatient, write=True):
                pass
        assert describe(locked.value) == "OperationalError: database is locked"
        with transaction(impatient) as reader:
            assert reader.execute(sa.select(sa.func.count()).select_from(run_key)).scalar_one() == 0
    finally:
        release.set()
        holder.join()


def test_a_failed_block_rolls_back(tmp_path: Path) -> None:
    database = open_database(tmp_path / "keys.sqlite", "keys")
    with pytest.raises(RuntimeError):
        with database.transaction(write=True) as conn:
            conn.execute(sa.insert(run_key).values(**_row("k1")))
            raise RuntimeError("boom")
    with database.transaction() as conn:
        assert conn.execute(sa.select(run_key.c.key_id)).all() == []


def test_duplicates_are_recognised_and_other_violations_are_not(location: str) -> None:
    database = open_database(location, "keys")
    with database.transaction(write=True) as conn:
        conn.execute(sa.insert(run_key).values(**_row("k1")))
    with pytest.raises(IntegrityError) as duplicate:
        with database.transaction(write=True) as conn:
            conn.execute(sa.insert(run_key).values(**_row("k1")))
    assert is_unique_violation(duplicate.value)
    with pytest.raises(IntegrityError) as missing:
        with database.transaction(write=True) as conn:
            conn.execute(sa.insert(run_key).values(**{**_row("k2"), "name": None}))
    assert not is_unique_violation(missing.value)
    assert not is_unique_violation(RuntimeError("UNIQUE constraint failed"))


def test_the_database_clock_is_the_servers_on_postgresql_and_the_hosts_on_sqlite(location: str) -> None:
    import time

    database = open_database(location, "keys")
    with database.transaction() as conn:
        first, second = database.now(conn), database.now(conn)
    assert abs(first - time.time()) < 5 and second >= first  # clock_timestamp(), not the transaction's start


def test_an_unreachable_postgresql_names_the_setting_never_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once the socket closes
    url = f"postgresql://svc:s3cret-pw@127.0.0.1:{port}/cloud"
    with pytest.raises(ConnectionError) as refused:
        open_database(url, "ipam", unreachable="cannot connect to the allocation database (ALLOCATIONS_DB)")
    assert str(refused.value) == "cannot connect to the allocation database (ALLOCATIONS_DB)"
    assert "s3cret" not in repr(refused.value) and refused.value.__cause__ is None


def test_postgresql_errors_are_described_by_type_only() -> None:
    error = OperationalError("SELECT 1", {}, Exception('connection to "postgresql://svc:s3cret@db" failed'))
    assert describe(error) == "OperationalError"


def test_sqlite_files_are_owner_only_with_their_wal(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "state" / "keys.sqlite"
        database = open_database(path, "keys")
        with database.transaction(write=True) as conn:
            conn.execute(sa.insert(run_key).values(**_row("k1")))
    finally:
        os.umask(old)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "store" not in repr(database) and str(path) not in repr(database)
