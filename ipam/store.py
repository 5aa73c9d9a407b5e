"""Our own allocation of VM ids and addresses, so they are known before any clone starts.

Proxmox's ``/cluster/nextid`` does not reserve the id it returns, so two concurrent provisioners get
the same one; DHCP addresses are only known after boot. Instead every tenant server gets a row
``(pool, owner) -> (vmid, address, node)`` in a small database: SQLite on one host (the embedded
default), PostgreSQL when workers on several hosts share the queue (:mod:`ipam.postgres`).
Allocators are serialised (SQLite's ``BEGIN IMMEDIATE``, a table lock on PostgreSQL), and UNIQUE
constraints make a duplicate impossible even if that failed. Allocation is idempotent per owner:
asking again returns the same row, which is what makes a crashed run's leftovers findable (their
vmid is known) and the next run converge.

:func:`open_store` picks the implementation from one location string (``ALLOCATIONS_DB``).
"""
from __future__ import annotations

import ipaddress
import sqlite3
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from provisioning.private_files import private_sqlite

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS allocation (
    pool TEXT NOT NULL,
    owner TEXT NOT NULL,
    vmid INTEGER NOT NULL,
    address TEXT NOT NULL,
    node TEXT NOT NULL,
    created_at {float_type} NOT NULL,
    memory_mb INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pool, owner),
    UNIQUE (pool, vmid),
    UNIQUE (pool, address)
)
"""
"""The allocation table of every store; ``{float_type}`` is the dialect's double-precision type."""
SCHEMA = TABLE_DDL.format(float_type="REAL")


class AllocationError(RuntimeError):
    """The pool is exhausted or the request is invalid; the message says which and what to do."""


@dataclass(frozen=True)
class PoolSpec:
    """Where ids and addresses come from."""

    vmid_start: int
    vmid_end: int
    network: str
    """CIDR of the tenant network, e.g. ``10.77.0.0/16``."""
    gateway: str
    reserved: int = 10
    """How many addresses after the network address are kept for infrastructure (gateway, DNS...)."""


@dataclass(frozen=True)
class Allocation:
    """One tenant server's id, address (with prefix length) and node."""

    pool: str
    owner: str
    vmid: int
    address: str
    node: str


def first_free_vmid(spec: PoolSpec, taken: Iterable[int], in_use: Callable[[int], bool] = lambda _: False) -> int:
    """The smallest id in the pool's range neither in ``taken`` nor ``in_use`` (asked only of candidates)."""
    used = set(taken)
    for vmid in range(spec.vmid_start, spec.vmid_end + 1):
        if vmid not in used and not in_use(vmid):
            return vmid
    raise AllocationError(f"no free VM id in {spec.vmid_start}-{spec.vmid_end}: widen the pool's vmid range")


def first_free_address(spec: PoolSpec, taken: Iterable[str]) -> str:
    """The smallest host address after the reserved block that is not ``taken`` nor the gateway."""
    network = ipaddress.ip_network(spec.network)
    used = set(taken) | {spec.gateway}
    for index, host in enumerate(network.hosts()):
        if index < spec.reserved:
            continue
        if str(host) not in used:
            return str(host)
    raise AllocationError(f"no free address in {spec.network}: widen the pool's network")


Placer = str | Callable[[Mapping[str, int]], str]
_COLUMNS = "pool, owner, vmid, address, node"


def _row(row: Any) -> Allocation:
    return Allocation(str(row[0]), str(row[1]), int(row[2]), str(row[3]), str(row[4]))


class Cursor:
    """A cursor inside one transaction, with ``?`` placeholders on every backend."""

    def __init__(self, cursor: Any, placeholder: str) -> None:
        self._cursor = cursor
        self._ph = placeholder

    def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement; its row count."""
        self._cursor.execute(sql if self._ph == "?" else sql.replace("?", self._ph), tuple(params))
        return int(self._cursor.rowcount)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """Every row of a query, as tuples."""
        self.execute(sql, params)
        return list(self._cursor.fetchall())


class AllocationStore(ABC):
    """Allocations in a SQL database; subclasses supply connections and the allocators' lock."""

    @abstractmethod
    def transaction(self, write: bool = False) -> AbstractContextManager[Cursor]:
        """A transaction's :class:`Cursor`; ``write`` transactions are serialised."""

    def allocate(self, pool: str, owner: str, spec: PoolSpec, place: Placer,
                 foreign_vmids: Iterable[int] = (), memory_mb: int = 0,
                 vmid_in_use: Callable[[int], bool] = lambda _: False) -> Allocation:
        """Return ``owner``'s allocation, creating it if absent.

        ``foreign_vmids`` are the ids in use in the cluster that the caller can see; ``vmid_in_use``
        asks the cluster about a candidate id (VMs outside the token's pool are invisible to it). ``place`` is the node, or a function
        choosing one given the memory (MiB per node) of allocations whose VM does not exist yet:
        it runs inside the allocation's transaction, so concurrent placements see each other.
        """
        in_cluster = set(foreign_vmids)
        with self.transaction(write=True) as tx:
            found = tx.rows(f"SELECT {_COLUMNS} FROM allocation WHERE pool=? AND owner=?", (pool, owner))
            if found:
                return _row(found[0])
            rows = tx.rows("SELECT vmid, address, node, memory_mb FROM allocation WHERE pool=?", (pool,))
            pending: dict[str, int] = {}
            for vmid, _, held_node, held_mb in rows:
                if vmid not in in_cluster:
                    pending[held_node] = pending.get(held_node, 0) + held_mb
            node = place if isinstance(place, str) else place(pending)
            made = Allocation(pool, owner, first_free_vmid(spec, [*(r[0] for r in rows), *in_cluster], vmid_in_use),
                              first_free_address(spec, [r[1] for r in rows]), node)
            tx.execute("INSERT INTO allocation (pool, owner, vmid, address, node, created_at, memory_mb) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (pool, owner, made.vmid, made.address, made.node, time.time(), memory_mb))
        return made

    def get(self, pool: str, owner: str) -> Allocation | None:
        """The allocation of ``owner``, or None."""
        with self.transaction() as tx:
            rows = tx.rows(f"SELECT {_COLUMNS} FROM allocation WHERE pool=? AND owner=?", (pool, owner))
        return _row(rows[0]) if rows else None

    def release(self, pool: str, owner: str) -> bool:
        """Forget ``owner``'s allocation; True if there was one."""
        with self.transaction(write=True) as tx:
            return tx.execute("DELETE FROM allocation WHERE pool=? AND owner=?", (pool, owner)) > 0

    def release_exactly(self, allocation: Allocation) -> bool:
        """Forget ``allocation`` only if the row still holds the same id and address; True if it did."""
        with self.transaction(write=True) as tx:
            return tx.execute("DELETE FROM allocation WHERE pool=? AND owner=? AND vmid=? AND address=?",
                              (allocation.pool, allocation.owner, allocation.vmid, allocation.address)) > 0

    def all(self, pool: str) -> list[Allocation]:
        """Every allocation in ``pool``, by vmid."""
        with self.transaction() as tx:
            rows = tx.rows(f"SELECT {_COLUMNS} FROM allocation WHERE pool=? ORDER BY vmid", (pool,))
        return [_row(r) for r in rows]

    def everything(self) -> list[Allocation]:
        """Every allocation of every pool, by pool and vmid."""
        with self.transaction() as tx:
            rows = tx.rows(f"SELECT {_COLUMNS} FROM allocation ORDER BY pool, vmid")
        return [_row(r) for r in rows]


class SqliteAllocationStore(AllocationStore):
    """Allocations in one SQLite file (WAL); safe for concurrent processes on one host."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        private_sqlite(self.path)
        conn = self._connect()
        try:
            conn.executescript(SCHEMA)
        finally:
            conn.close()

    def __repr__(self) -> str:
        return f"SqliteAllocationStore({str(self.path)!r})"

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Cursor]:
        """A transaction on a fresh connection; writers take the lock at BEGIN (no upgrade deadlocks)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Cursor(conn.cursor(), "?")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(location: str) -> AllocationStore:
    """The store at ``location``: a ``postgresql://`` URL, or a SQLite path (``sqlite:///`` optional)."""
    if location.startswith(POSTGRES_SCHEMES):
        from ipam.postgres import PostgresAllocationStore  # psycopg only where it is used

        return PostgresAllocationStore(location)
    return SqliteAllocationStore(Path(location.removeprefix("sqlite://")))
