"""Our own allocation of VM ids and addresses, so they are known before any clone starts.

Proxmox's ``/cluster/nextid`` does not reserve the id it returns, so two concurrent provisioners get
the same one; DHCP addresses are only known after boot. Instead every tenant server gets a row
``(pool, owner) -> (vmid, address, node)`` in a small SQLite database. ``BEGIN IMMEDIATE`` serialises
allocators across processes, and UNIQUE constraints make a duplicate impossible even if that failed.
Allocation is idempotent per owner: asking again returns the same row, which is what makes a crashed
run's leftovers findable (their vmid is known) and the next run converge.
"""
from __future__ import annotations

import ipaddress
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

SCHEMA = """
CREATE TABLE IF NOT EXISTS allocation (
    pool TEXT NOT NULL,
    owner TEXT NOT NULL,
    vmid INTEGER NOT NULL,
    address TEXT NOT NULL,
    node TEXT NOT NULL,
    created_at REAL NOT NULL,
    memory_mb INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (pool, owner),
    UNIQUE (pool, vmid),
    UNIQUE (pool, address)
);
"""


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


class AllocationStore:
    """SQLite-backed allocations; safe for concurrent processes on one host."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def allocate(self, pool: str, owner: str, spec: PoolSpec, place: str | Callable[[Mapping[str, int]], str],
                 foreign_vmids: Iterable[int] = (), memory_mb: int = 0,
                 vmid_in_use: Callable[[int], bool] = lambda _: False) -> Allocation:
        """Return ``owner``'s allocation, creating it if absent.

        ``foreign_vmids`` are the ids in use in the cluster that the caller can see; ``vmid_in_use``
        asks the cluster about a candidate id (VMs outside the token's pool are invisible to it). ``place`` is the node, or a function
        choosing one given the memory (MiB per node) of allocations whose VM does not exist yet:
        it runs inside the allocation's transaction, so concurrent placements see each other.
        """
        in_cluster = set(foreign_vmids)
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT vmid, address, node FROM allocation WHERE pool=? AND owner=?",
                               (pool, owner)).fetchone()
            if row is None:
                rows = conn.execute("SELECT vmid, address, node, memory_mb FROM allocation WHERE pool=?",
                                    (pool,)).fetchall()
                pending: dict[str, int] = {}
                for vmid, _, held_node, held_mb in rows:
                    if vmid not in in_cluster:
                        pending[held_node] = pending.get(held_node, 0) + held_mb
                node = place if isinstance(place, str) else place(pending)
                row = (first_free_vmid(spec, [*(r[0] for r in rows), *in_cluster], vmid_in_use),
                       first_free_address(spec, [r[1] for r in rows]), node)
                conn.execute("INSERT INTO allocation VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (pool, owner, *row, time.time(), memory_mb))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK") if conn.in_transaction else None
            raise
        finally:
            conn.close()
        return Allocation(pool, owner, int(row[0]), str(row[1]), str(row[2]))

    def get(self, pool: str, owner: str) -> Allocation | None:
        """The allocation of ``owner``, or None."""
        conn = self._connect()
        try:
            row = conn.execute("SELECT vmid, address, node FROM allocation WHERE pool=? AND owner=?",
                               (pool, owner)).fetchone()
        finally:
            conn.close()
        return Allocation(pool, owner, int(row[0]), str(row[1]), str(row[2])) if row else None

    def release(self, pool: str, owner: str) -> bool:
        """Forget ``owner``'s allocation; True if there was one."""
        conn = self._connect()
        try:
            cursor = conn.execute("DELETE FROM allocation WHERE pool=? AND owner=?", (pool, owner))
        finally:
            conn.close()
        return cursor.rowcount > 0

    def all(self, pool: str) -> list[Allocation]:
        """Every allocation in ``pool``, by vmid."""
        conn = self._connect()
        try:
            rows = conn.execute("SELECT owner, vmid, address, node FROM allocation WHERE pool=? ORDER BY vmid",
                                (pool,)).fetchall()
        finally:
            conn.close()
        return [Allocation(pool, r[0], int(r[1]), str(r[2]), str(r[3])) for r in rows]
