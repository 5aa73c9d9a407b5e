"""Our own allocation of VM ids and addresses, so they are known before any clone starts.

Proxmox's ``/cluster/nextid`` does not reserve the id it returns, so two concurrent provisioners get
the same one; DHCP addresses are only known after boot. Instead every tenant server gets a row
``(pool, owner) -> (vmid, address, node)`` in a small database: SQLite on one host (the embedded
default), PostgreSQL when workers on several hosts share the queue (:mod:`ipam.postgres`), both
through :mod:`storage` (database ``ipam``, table :data:`storage.schema.ipam.allocation`).
Allocators are serialised (SQLite's ``BEGIN IMMEDIATE``, a table lock on PostgreSQL), and UNIQUE
constraints make a duplicate impossible even if that failed. Allocation is idempotent per owner:
asking again returns the same row, which is what makes a crashed run's leftovers findable (their
vmid is known) and the next run converge.

:func:`open_store` picks the implementation from one location string (``ALLOCATIONS_DB``).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import Database, is_postgres_location, open_database
from storage.schema.ipam import allocation


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
_COLUMNS = (allocation.c.pool, allocation.c.owner, allocation.c.vmid, allocation.c.address, allocation.c.node)


def _row(row: Any) -> Allocation:
    return Allocation(str(row.pool), str(row.owner), int(row.vmid), str(row.address), str(row.node))


def _of(pool: str, owner: str) -> sa.ColumnElement[bool]:
    return sa.and_(allocation.c.pool == pool, allocation.c.owner == owner)


class AllocationStore:
    """Allocations in a SQL database (:mod:`storage`); subclasses open it and say how allocators serialise."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def lock_allocators(self, tx: Connection) -> None:
        """Serialise writers beyond what :meth:`transaction` does (SQLite's write lock is enough)."""

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Connection]:
        """A transaction; ``write`` transactions are serialised (SQLite's write lock taken at ``BEGIN``)."""
        with self.database.transaction(write) as tx:
            if write:
                self.lock_allocators(tx)
            yield tx

    def allocate(
        self,
        pool: str,
        owner: str,
        spec: PoolSpec,
        place: Placer,
        foreign_vmids: Iterable[int] = (),
        memory_mb: int = 0,
        vmid_in_use: Callable[[int], bool] = lambda _: False,
    ) -> Allocation:
        """Return ``owner``'s allocation, creating it if absent.

        ``foreign_vmids`` are the ids in use in the cluster that the caller can see; ``vmid_in_use``
        asks the cluster about a candidate id (VMs outside the token's pool are invisible to it). ``place`` is the
        node, or a function choosing one given the memory (MiB per node) of allocations whose VM does not exist yet:
        it runs inside the allocation's transaction, so concurrent placements see each other.
        """
        in_cluster = set(foreign_vmids)
        with self.transaction(write=True) as tx:
            found = tx.execute(sa.select(*_COLUMNS).where(_of(pool, owner))).first()
            if found is not None:
                return _row(found)
            rows = tx.execute(
                sa.select(allocation.c.vmid, allocation.c.address, allocation.c.node, allocation.c.memory_mb).where(
                    allocation.c.pool == pool
                )
            ).all()
            pending: dict[str, int] = {}
            for vmid, _, held_node, held_mb in rows:
                if vmid not in in_cluster:
                    pending[held_node] = pending.get(held_node, 0) + held_mb
            node = place if isinstance(place, str) else place(pending)
            made = Allocation(
                pool,
                owner,
                first_free_vmid(spec, [*(r.vmid for r in rows), *in_cluster], vmid_in_use),
                first_free_address(spec, [r.address for r in rows]),
                node,
            )
            _insert(tx, made, memory_mb)
        return made

    def adopt(self, wanted: Allocation, memory_mb: int = 0) -> bool:
        """Give ``wanted.owner`` exactly ``wanted``'s id, address and node (an undelete brings a server back
        as it was); False, changing nothing, when the owner already holds one or the id or address is taken."""
        with self.transaction(write=True) as tx:
            clash = tx.execute(
                sa.select(allocation.c.owner).where(
                    allocation.c.pool == wanted.pool,
                    sa.or_(
                        allocation.c.owner == wanted.owner,
                        allocation.c.vmid == wanted.vmid,
                        allocation.c.address == wanted.address,
                    ),
                )
            ).first()
            if clash is not None:
                return False
            _insert(tx, wanted, memory_mb)
        return True

    def get(self, pool: str, owner: str) -> Allocation | None:
        """The allocation of ``owner``, or None."""
        with self.transaction() as tx:
            found = tx.execute(sa.select(*_COLUMNS).where(_of(pool, owner))).first()
        return _row(found) if found is not None else None

    def release(self, pool: str, owner: str) -> bool:
        """Forget ``owner``'s allocation; True if there was one."""
        with self.transaction(write=True) as tx:
            return tx.execute(sa.delete(allocation).where(_of(pool, owner))).rowcount > 0

    def release_exactly(self, made: Allocation) -> bool:
        """Forget ``made`` only if the row still holds the same id and address; True if it did."""
        with self.transaction(write=True) as tx:
            return (
                tx.execute(
                    sa.delete(allocation).where(
                        _of(made.pool, made.owner), allocation.c.vmid == made.vmid, allocation.c.address == made.address
                    )
                ).rowcount
                > 0
            )

    def all(self, pool: str) -> list[Allocation]:
        """Every allocation in ``pool``, by vmid."""
        with self.transaction() as tx:
            rows = tx.execute(sa.select(*_COLUMNS).where(allocation.c.pool == pool).order_by(allocation.c.vmid)).all()
        return [_row(r) for r in rows]

    def everything(self) -> list[Allocation]:
        """Every allocation of every pool, by pool and vmid."""
        with self.transaction() as tx:
            rows = tx.execute(sa.select(*_COLUMNS).order_by(allocation.c.pool, allocation.c.vmid)).all()
        return [_row(r) for r in rows]


def _insert(tx: Connection, made: Allocation, memory_mb: int) -> None:
    tx.execute(
        sa.insert(allocation).values(
            pool=made.pool,
            owner=made.owner,
            vmid=made.vmid,
            address=made.address,
            node=made.node,
            created_at=time.time(),
            memory_mb=memory_mb,
        )
    )


class SqliteAllocationStore(AllocationStore):
    """Allocations in one SQLite file (WAL, owner-only); safe for concurrent processes on one host."""

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        super().__init__(open_database(self.path, "ipam", busy_timeout=timeout))

    def __repr__(self) -> str:
        return f"SqliteAllocationStore({str(self.path)!r})"


def open_store(location: str) -> AllocationStore:
    """The store at ``location``: a ``postgresql://`` URL, or a SQLite path (``sqlite:///`` optional)."""
    if is_postgres_location(location):
        from ipam.postgres import PostgresAllocationStore  # psycopg only where it is used

        return PostgresAllocationStore(location)
    return SqliteAllocationStore(Path(location.removeprefix("sqlite://")))
