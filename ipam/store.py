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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage import Database, is_postgres_location, open_database
from storage.schema.ipam import allocation, node_mark


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
    placement: str = field(default="", compare=False)
    """The placer's decision (JSON of :class:`ipam.placement.Decision`); empty when none was recorded."""


@dataclass(frozen=True)
class Promised:
    """What a pool's allocations hold beyond what the cluster shows, as the placer needs it."""

    memory_mb: Mapping[str, int]
    """Node -> memory promised to allocations whose VM does not exist yet."""
    cores: Mapping[str, int]
    """Node -> cores promised to allocations whose VM does not exist yet."""
    siblings: Mapping[str, int]
    """Node -> allocations held by the same tenant as the one being placed."""
    unschedulable: Mapping[str, str]
    """Node -> why it takes no new VM (:meth:`AllocationStore.mark_unschedulable`)."""


def tenant_of(owner: str) -> str:
    """The tenant part of an owner ``<tenant>/<index>``. Owners starting with ``~`` are the platform's (the warm
    pool's VMs, warming or ready) and count as one tenant, so that they spread over the nodes together."""
    return "~" if owner.startswith("~") else owner.rsplit("/", 1)[0]


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


class Decided(Protocol):
    """A placement decision: the node and how it was chosen (:class:`ipam.placement.Decision`)."""

    @property
    def node(self) -> str: ...

    def to_json(self) -> str: ...


Placer = str | Callable[[Promised], Decided | str]
_COLUMNS = (
    allocation.c.pool,
    allocation.c.owner,
    allocation.c.vmid,
    allocation.c.address,
    allocation.c.node,
    allocation.c.placement,
)


def _row(row: Any) -> Allocation:
    return Allocation(
        str(row.pool), str(row.owner), int(row.vmid), str(row.address), str(row.node), str(row.placement or "")
    )


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
        cores: int = 0,
        disk_gb: int = 0,
    ) -> Allocation:
        """Return ``owner``'s allocation, creating it if absent.

        ``foreign_vmids`` are the ids in use in the cluster that the caller can see; ``vmid_in_use``
        asks the cluster about a candidate id (VMs outside the token's pool are invisible to it). ``place`` is the
        node, or a function deciding one given what the pool's allocations promise (:class:`Promised`): it runs
        inside the allocation's transaction, so concurrent placements see each other. Its decision is recorded.
        """
        in_cluster = set(foreign_vmids)
        with self.transaction(write=True) as tx:
            found = tx.execute(sa.select(*_COLUMNS).where(_of(pool, owner))).first()
            if found is not None:
                return _row(found)
            rows = tx.execute(
                sa.select(
                    allocation.c.owner,
                    allocation.c.vmid,
                    allocation.c.address,
                    allocation.c.node,
                    allocation.c.memory_mb,
                    allocation.c.cores,
                ).where(allocation.c.pool == pool)
            ).all()
            if isinstance(place, str):
                node, placement = place, ""
            else:
                decision = place(self._promised(tx, pool, owner, rows, in_cluster))
                node, placement = (decision, "") if isinstance(decision, str) else (decision.node, decision.to_json())
            made = Allocation(
                pool,
                owner,
                first_free_vmid(spec, [*(r.vmid for r in rows), *in_cluster], vmid_in_use),
                first_free_address(spec, [r.address for r in rows]),
                node,
                placement,
            )
            _insert(tx, made, memory_mb, cores, disk_gb)
        return made

    def _promised(self, tx: Connection, pool: str, owner: str, rows: Iterable[Any], in_cluster: set[int]) -> Promised:
        memory: dict[str, int] = {}
        cores: dict[str, int] = {}
        siblings: dict[str, int] = {}
        tenant = tenant_of(owner)
        for row in rows:
            if row.vmid not in in_cluster:
                memory[row.node] = memory.get(row.node, 0) + row.memory_mb
                cores[row.node] = cores.get(row.node, 0) + row.cores
            if tenant_of(row.owner) == tenant:
                siblings[row.node] = siblings.get(row.node, 0) + 1
        return Promised(memory, cores, siblings, self._unschedulable(tx, pool))

    def promised(self, pool: str, owner: str, in_cluster: Iterable[int]) -> Promised:
        """What ``pool``'s allocations promise (as a placement for ``owner`` would see it), read once."""
        with self.transaction() as tx:
            rows = tx.execute(
                sa.select(
                    allocation.c.owner, allocation.c.vmid, allocation.c.node, allocation.c.memory_mb, allocation.c.cores
                ).where(allocation.c.pool == pool)
            ).all()
            return self._promised(tx, pool, owner, rows, set(in_cluster))

    def mark_unschedulable(self, pool: str, node: str, reason: str) -> None:
        """Let no new VM of ``pool`` land on ``node`` (a drain); marking again replaces the reason."""
        with self.transaction(write=True) as tx:
            tx.execute(sa.delete(node_mark).where(node_mark.c.pool == pool, node_mark.c.node == node))
            tx.execute(sa.insert(node_mark).values(pool=pool, node=node, reason=reason, since=time.time()))

    def mark_schedulable(self, pool: str, node: str) -> bool:
        """Undo :meth:`mark_unschedulable`; True if the node was marked."""
        with self.transaction(write=True) as tx:
            return (
                tx.execute(sa.delete(node_mark).where(node_mark.c.pool == pool, node_mark.c.node == node)).rowcount > 0
            )

    def unschedulable(self, pool: str) -> dict[str, str]:
        """Node -> reason, for the nodes of ``pool`` that take no new VM."""
        with self.transaction() as tx:
            return self._unschedulable(tx, pool)

    @staticmethod
    def _unschedulable(tx: Connection, pool: str) -> dict[str, str]:
        rows = tx.execute(sa.select(node_mark.c.node, node_mark.c.reason).where(node_mark.c.pool == pool)).all()
        return {str(node): str(reason) for node, reason in rows}

    def relocate(
        self,
        pool: str,
        owner: str,
        place: Callable[[Promised], Decided],
        memory_mb: int,
        cores: int,
        foreign_vmids: Iterable[int] = (),
    ) -> Allocation | None:
        """Decide anew where ``owner``'s VM belongs (a drain, or a resize its node cannot take) and record it,
        with the new size; the VM's id and address stay. None when ``owner`` holds no allocation.

        ``place`` sees what the pool promises without ``owner`` itself (its siblings are the tenant's other
        servers), in the same serialised transaction as every allocation."""
        in_cluster = set(foreign_vmids)
        with self.transaction(write=True) as tx:
            if tx.execute(sa.select(allocation.c.owner).where(_of(pool, owner))).first() is None:
                return None
            rows = tx.execute(
                sa.select(
                    allocation.c.owner, allocation.c.vmid, allocation.c.node, allocation.c.memory_mb, allocation.c.cores
                ).where(allocation.c.pool == pool, allocation.c.owner != owner)
            ).all()
            decision = place(self._promised(tx, pool, owner, rows, in_cluster))
            tx.execute(
                sa.update(allocation)
                .where(_of(pool, owner))
                .values(node=decision.node, placement=decision.to_json(), memory_mb=memory_mb, cores=cores)
            )
            found = tx.execute(sa.select(*_COLUMNS).where(_of(pool, owner))).first()
        return _row(found) if found is not None else None

    def rename(self, pool: str, owner: str, new_owner: str) -> bool:
        """Hand ``owner``'s allocation to ``new_owner`` (a warm VM becoming ready); False if ``owner`` holds none."""
        with self.transaction(write=True) as tx:
            return tx.execute(sa.update(allocation).where(_of(pool, owner)).values(owner=new_owner)).rowcount > 0

    def claim(
        self,
        pool: str,
        owner: str,
        prefix: str,
        pick: Callable[[list[Allocation]], list[Allocation]],
        placement: Callable[[Allocation], str] = lambda a: a.placement,
    ) -> Allocation | None:
        """Give ``owner`` one of the allocations whose owner starts with ``prefix`` (ready warm-pool VMs), tried
        in the order ``pick`` returns them; None when ``owner`` already holds one or none is left.

        One serialised transaction and an update guarded by the old owner: a VM is never given twice, and a
        process killed at any point leaves it either still the pool's or already ``owner``'s. ``placement`` gives
        the decision recorded for the one taken."""
        with self.transaction(write=True) as tx:
            if tx.execute(sa.select(allocation.c.owner).where(_of(pool, owner))).first() is not None:
                return None
            ready = [
                _row(r)
                for r in tx.execute(
                    sa.select(*_COLUMNS)
                    .where(allocation.c.pool == pool, allocation.c.owner.startswith(prefix, autoescape=True))
                    .order_by(allocation.c.created_at)
                ).all()
            ]
            for candidate in pick(ready):
                decided = placement(candidate)
                claimed = tx.execute(
                    sa.update(allocation).where(_of(pool, candidate.owner)).values(owner=owner, placement=decided)
                ).rowcount
                if claimed:
                    return Allocation(pool, owner, candidate.vmid, candidate.address, candidate.node, decided)
        return None

    def resize(self, pool: str, owner: str, memory_mb: int, cores: int) -> None:
        """Record ``owner``'s new size where it stays (placement counts it for VMs not created yet)."""
        with self.transaction(write=True) as tx:
            tx.execute(sa.update(allocation).where(_of(pool, owner)).values(memory_mb=memory_mb, cores=cores))

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


def _insert(tx: Connection, made: Allocation, memory_mb: int, cores: int = 0, disk_gb: int = 0) -> None:
    tx.execute(
        sa.insert(allocation).values(
            pool=made.pool,
            owner=made.owner,
            vmid=made.vmid,
            address=made.address,
            node=made.node,
            created_at=time.time(),
            memory_mb=memory_mb,
            cores=cores,
            disk_gb=disk_gb,
            placement=made.placement,
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
