"""The warm pool: tenant VMs cloned, booted and set up before anyone asks, handed over in seconds.

Per region, ``regions.<r>.warm_pool`` (``size``, ``plan``, ``max_idle_hours``) says how many VMs to keep
ready, sized for which plan. Each warm VM holds an allocation like a tenant server (so its id, address and
node are reserved and counted by placement), owned by ``~warming/<since>-<id>`` while it is made and
``~ready/<since>-<id>`` once it is ready. Making one (:meth:`WarmPool.fill`):

1. allocate an id, address and node (the usual placement: warm VMs spread over the nodes too);
2. clone the node's template into the region's pool, tagged ``dokploy-cloud`` and ``warm-pool``, with cloud-init
   giving it its address and a throw-away SSH key, the plan's size and a firewall that lets only SSH in;
3. start it and wait for its guest agent;
4. with ``warm_pool_organization`` set: register it in that (the platform's own) Dokploy organization with
   the throw-away key, run Dokploy's setup (Docker, Swarm, the network, the build tools), verify it, and
   remove the registration and the key again;
5. rename the allocation's owner to ``~ready/...``.

A new tenant's run (:meth:`WarmPool.claim`, from :meth:`provisioning.stacks.TenantStacks.run`) takes a ready
VM for each server it has no allocation for: one guarded update renames the allocation's owner to the
tenant's server (``<slug>/<i>``), so a VM is never given twice and a process killed at any point leaves it
either the pool's or the tenant's. The claim removes the warm firewall rule. In the tenant's ``up``,
:mod:`providers.warm_adoption` first makes the VM the tenant's (name, description, tags, cloud-init user and
keys, the NIC's firewall flag, the plan's disk size; the tenant's key and hostname written into the running
guest by its agent), then the tenant's VM resource, declared without a clone source for a warm server, adopts
it: bpg's create meets "config file already exists", which it treats as done on its retry (1 s later; a clone
would wait 10 s), and reads the VM back exactly as declared, because the fill wrote the hardware settings bpg
writes into its own clones (:data:`BPG_CLONE_HARDWARE`). Dokploy's setup then finds everything in place.
From then on the VM is the stack's like any other: refresh, recovery, migration and destroy treat it the same.

A fill holds the region's pool lock: on one host any ``~warming`` allocation it finds was left by a filler
that died (with worker hosts sharing PostgreSQL, once it is older than the longest fill), and its VM (proved
ours by its tags, pool and id) is deleted and the allocation freed before new VMs are made. Ready VMs idle
longer than ``max_idle_hours``, or beyond ``size``, are deleted (and replaced); a cold signup that finds no
room takes the room of the oldest (:meth:`WarmPool.yield_capacity`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxmoxer import ProxmoxAPI

from clients.proxmox import cluster_vms
from components.environment import Environment, Region, WarmPoolPolicy
from components.naming import IPFILTER_SET, MANAGED_TAG, WARM_TAG, allocation_owner, allocation_pool
from components.spec import TenantSpec
from ipam.store import Allocation, AllocationStore, PoolSpec, open_store
from providers.allocation import placer, read_cluster
from providers.ssh_keypair import generate_key_pair
from provisioning import recovery
from provisioning.runlock import stack_run_lock
from storage import is_postgres_location

if TYPE_CHECKING:
    from provisioning.stacks import TenantStacks

log = logging.getLogger(__name__)
WARMING, READY, DELETING = "~warming/", "~ready/", "~deleting/"
TASK_TIMEOUT = 1800.0
AGENT_WAIT_SECONDS = 600.0
SETUP_TIMEOUT = 900.0
WARMING_GRACE_SECONDS = 2 * TASK_TIMEOUT + AGENT_WAIT_SECONDS + 2 * SETUP_TIMEOUT
"""Age after which another host's warming VM counts as left by a dead filler: beyond the longest fill."""


@dataclass(frozen=True)
class WarmVm:
    """One VM of the pool."""

    region: str
    vmid: int
    node: str
    address: str
    state: str
    """``warming``, ``ready`` or ``deleting``."""
    since: float
    owner: str = ""
    """The allocation's owner (``~warming/…``, ``~ready/…``, ``~deleting/…``)."""

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.since)


def is_warm_owner(owner: str) -> bool:
    """Whether an allocation's owner is the warm pool (warming, ready or being deleted), not a tenant server."""
    return owner.startswith((WARMING, READY, DELETING))


def _state(owner: str) -> str:
    return "ready" if owner.startswith(READY) else "deleting" if owner.startswith(DELETING) else "warming"


def _since(owner: str) -> float:
    try:
        return float(owner.split("/", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return 0.0


def warm_placement(vmid: int, node: str, since: float) -> str:
    """The decision recorded on a claimed allocation: where it came from (``warm`` true)."""
    reason = f"{node}: warm-pool VM {vmid} claimed, ready since {time.strftime('%H:%M:%S', time.gmtime(since))} UTC"
    return json.dumps({"node": node, "reason": reason, "candidates": [], "warm": True}, sort_keys=True)


def warm_servers(allocations: Iterable[Allocation], slug: str) -> set[int]:
    """Indexes of ``slug``'s servers whose VM came from the warm pool."""
    return {int(index) for a, index in _claimed(allocations, slug)}


def claimed_warm_vmids(allocations: Iterable[Allocation], slug: str) -> set[int]:
    """VM ids of ``slug``'s servers that came from the warm pool (adopted by its runs, never cloned)."""
    return {a.vmid for a, _ in _claimed(allocations, slug)}


def _claimed(allocations: Iterable[Allocation], slug: str) -> list[tuple[Allocation, str]]:
    out = []
    for a in allocations:
        owner, _, index = a.owner.rpartition("/")
        if owner == slug and index.isdigit():
            try:
                if json.loads(a.placement or "{}").get("warm"):
                    out.append((a, index))
            except ValueError:
                continue
    return out


class WarmPool:
    """The warm pools of one environment's regions."""

    def __init__(self, stacks: TenantStacks, proxmox: Callable[[str], ProxmoxAPI] | None = None) -> None:
        from provisioning import fleet_clients

        self.stacks = stacks
        self.environment: Environment = stacks.environment
        self._proxmox = proxmox or (lambda region: fleet_clients.proxmox(stacks, region))

    def store(self) -> AllocationStore:
        return open_store(self.stacks.allocations_location())

    def vms(self, region: str) -> list[WarmVm]:
        """The pool's VMs in ``region``, oldest first."""
        pool = allocation_pool(self.environment.name, region)
        rows = [a for a in self.store().all(pool) if is_warm_owner(a.owner)]
        return sorted(
            (
                WarmVm(
                    region,
                    a.vmid,
                    a.node,
                    a.address,
                    _state(a.owner),
                    _since(a.owner),
                    a.owner,
                )
                for a in rows
            ),
            key=lambda vm: vm.since,
        )

    # --- claiming -------------------------------------------------------------------------------
    def claim(self, tenant: TenantSpec) -> list[int]:
        """Give ``tenant`` a ready VM for each server that has no allocation yet; the indexes claimed.

        Only for a region with a pool whose plan is the tenant's, and never for a suspended tenant."""
        region = self.environment.regions[tenant.region]
        policy = region.warm_pool
        if policy is None or policy.plan != tenant.plan or tenant.suspended:
            return []
        store, pool = self.store(), allocation_pool(self.environment.name, region.name)
        claimed: list[int] = []
        for index in range(tenant.servers):
            taken = {row.node for row in store.all(pool) if row.owner.rpartition("/")[0] == tenant.slug}

            def spread(ready: list[Allocation], taken: set[str] = taken) -> list[Allocation]:
                return sorted(ready, key=lambda vm: (vm.node in taken, _since(vm.owner)))

            got = store.claim(
                pool,
                allocation_owner(tenant.slug, index),
                READY,
                spread,
                lambda a: warm_placement(a.vmid, a.node, _since(a.owner)),
            )
            if got is None:
                continue
            log.info("warm pool: VM %s on %s claimed for %s server %s", got.vmid, got.node, tenant.slug, index)
            claimed.append(index)
        return claimed

    def release_warm_rules(self, tenant: TenantSpec, indexes: Iterable[int], recorded_vmids: set[int]) -> None:
        """Remove the warm VM's own firewall rule from claimed servers the stack does not record yet (the
        tenant's firewall resources then own every rule; its IP filter set, already the VM's address, is adopted)."""
        pool = allocation_pool(self.environment.name, tenant.region)
        store = self.store()
        api = None
        for index in indexes:
            row = store.get(pool, allocation_owner(tenant.slug, index))
            if row is None or row.vmid in recorded_vmids:
                continue
            api = api or self._proxmox(tenant.region)
            rules = api.nodes(row.node).qemu(row.vmid).firewall.rules
            for rule in sorted(rules.get(), key=lambda r: -int(r["pos"])):
                if str(rule.get("comment", "")).startswith(WARM_TAG):
                    rules(int(rule["pos"])).delete()

    # --- filling --------------------------------------------------------------------------------
    def fill(self, region_name: str, progress: Callable[[str], None] = lambda _: None) -> list[int]:
        """Bring ``region_name``'s pool to its size (module docstring); the VM ids made."""
        region = self.environment.regions[region_name]
        policy = region.warm_pool
        if policy is None:
            return []
        with stack_run_lock(f"{self.environment.name}.~warm-pool-{region_name}"):
            api = self._proxmox(region_name)
            in_progress = self._clear_leftovers(region, api, progress)
            ready = self._trim(region, policy, api, progress)
            made = []
            for _ in range(max(0, policy.size - ready - in_progress)):
                made.append(self._warm_one(region, policy, api, progress))
            return made

    def yield_capacity(self, region_name: str, progress: Callable[[str], None] = log.info) -> int | None:
        """Delete the region's oldest ready VM so that a cold signup that found no room gets it; its VM id (None
        when the pool has no ready VM). The keeper's next fill counts the cold tenant's allocation first."""
        region = self.environment.regions[region_name]
        with stack_run_lock(f"{self.environment.name}.~warm-pool-{region_name}"):
            ready = [vm for vm in self.vms(region_name) if vm.state == "ready"]
            if not ready:
                return None
            self._delete(region, self._proxmox(region_name), ready[0], "room for a cold signup", progress)
            return ready[0].vmid

    def empty(self, region_name: str, progress: Callable[[str], None] = lambda _: None) -> list[int]:
        """Delete every VM of ``region_name``'s pool (before a template change, or to give the capacity back)."""
        region = self.environment.regions[region_name]
        with stack_run_lock(f"{self.environment.name}.~warm-pool-{region_name}"):
            api = self._proxmox(region_name)
            gone = []
            for vm in self.vms(region_name):
                self._delete(region, api, vm, "emptied", progress)
                gone.append(vm.vmid)
            return gone

    def _clear_leftovers(self, region: Region, api: ProxmoxAPI, progress: Callable[[str], None]) -> int:
        """Delete what dead fillers left; the number of VMs another host may still be warming.

        On one host (a SQLite allocation store) the pool lock we hold proves any ``~warming`` VM's filler died.
        Worker hosts sharing PostgreSQL do not share that lock, so there a ``~warming`` VM is another host's work
        in progress until it is older than the longest fill (:data:`WARMING_GRACE_SECONDS`)."""
        shared = is_postgres_location(self.stacks.allocations_location())
        in_progress = 0
        for vm in self.vms(region.name):
            if vm.state == "ready":
                continue
            if vm.state == "deleting":  # a deletion that died half-way: finish it
                self._delete(region, api, vm, "a deletion that died half-way", progress)
                continue
            if shared and vm.age_seconds < WARMING_GRACE_SECONDS:
                in_progress += 1
                continue
            self._delete(region, api, vm, "left by a filler that died", progress)
        return in_progress

    def _trim(self, region: Region, policy: WarmPoolPolicy, api: ProxmoxAPI, progress: Callable[[str], None]) -> int:
        ready = [vm for vm in self.vms(region.name) if vm.state == "ready"]
        kept = 0
        for vm in ready:
            if vm.age_seconds > policy.max_idle_hours * 3600:
                self._delete(region, api, vm, f"idle for more than {policy.max_idle_hours:g} h", progress)
            elif kept >= policy.size:
                self._delete(region, api, vm, f"beyond the pool's size {policy.size}", progress)
            else:
                kept += 1
        return kept

    def _delete(self, region: Region, api: ProxmoxAPI, vm: WarmVm, why: str, progress: Callable[[str], None]) -> None:
        """Take the VM's allocation from the pool (a guarded rename: a claim that got there first wins and
        nothing is deleted), delete the VM if its tags and pool prove it the pool's, then free the allocation."""
        pool = allocation_pool(self.environment.name, region.name)
        store = self.store()
        owner = vm.owner
        if not owner.startswith(DELETING):
            owner = f"{DELETING}{vm.owner.split('/', 1)[1]}"
            if not store.rename(pool, vm.owner, owner):
                log.info("warm pool: VM %s was claimed meanwhile; not deleted", vm.vmid)
                return
        found = {int(v["vmid"]): v for v in cluster_vms(api)}.get(vm.vmid)
        if found is not None:
            tags = set(str(found.get("tags") or "").replace(",", ";").split(";"))
            if {MANAGED_TAG, WARM_TAG} <= tags and found.get("pool") == region.pool:
                progress(f"warm pool {region.name}: deleting VM {vm.vmid} on {found['node']} ({why})")
                recovery.delete_vm(api, str(found["node"]), vm.vmid, TASK_TIMEOUT)
            else:
                log.warning("warm pool: VM %s is not provably the pool's (tags %s); left alone", vm.vmid, tags)
                return
        row = store.get(pool, owner)
        if row is not None:
            store.release_exactly(row)

    def _warm_one(
        self, region: Region, policy: WarmPoolPolicy, api: ProxmoxAPI, progress: Callable[[str], None]
    ) -> int:
        env, plan = self.environment, self.environment.plans[policy.plan]
        pool = allocation_pool(env.name, region.name)
        token = f"{time.time():.0f}-{secrets.token_hex(3)}"
        cluster = read_cluster(api, region.datastore)
        place = placer(
            cluster.loads,
            region.nodes,
            {"owner": f"{WARMING}{token}", "memory_mb": plan.memory_mb, "cores": plan.cores, "disk_gb": plan.disk_gb},
        )
        spec = PoolSpec(region.vmid_start, region.vmid_end, region.network, region.gateway, region.reserved)
        made = self.store().allocate(
            pool,
            f"{WARMING}{token}",
            spec,
            place,
            foreign_vmids=cluster.vmids,
            memory_mb=plan.memory_mb,
            cores=plan.cores,
            disk_gb=plan.disk_gb,
        )
        node, vmid = made.node, made.vmid
        progress(f"warm pool {region.name}: cloning VM {vmid} on {node}")
        template = region.templates[node]
        clone: dict[str, Any] = {
            "newid": vmid,
            "name": f"warm-{vmid}",
            "pool": region.pool,
            "full": int(region.full_clone),
        }
        if region.full_clone:
            clone["storage"] = region.datastore
        recovery.wait_task(api, api.nodes(node).qemu(template).clone.post(**clone), TASK_TIMEOUT)
        keys = generate_key_pair(f"{env.vm_user}@warm-pool")
        prefix = ipaddress.ip_network(region.network).prefixlen
        config: dict[str, Any] = {
            "cores": plan.cores,
            "memory": plan.memory_mb,
            "ciuser": env.vm_user,
            "sshkeys": urllib.parse.quote(keys["public_key"] + "\n", safe=""),
            "ipconfig0": f"ip={made.address}/{prefix},gw={region.gateway}",
            "agent": "enabled=1",
            "tags": f"{MANAGED_TAG};{WARM_TAG}",
            "onboot": 1,
            "description": f"dokploy-cloud warm pool VM (plan {plan.name}), not yet a tenant's",
        }
        if region.nameservers:
            config["nameserver"] = " ".join(region.nameservers)
        vm = api.nodes(node).qemu(vmid)
        config.update(clone_hardware(vm.config.get()))
        vm.config.put(**config)
        vm.firewall.options.put(enable=1, policy_in="DROP", policy_out="ACCEPT", ipfilter=1, macfilter=1, dhcp=0)
        vm.firewall.rules.post(type="in", action="ACCEPT", proto="tcp", dport="22", enable=1, comment=f"{WARM_TAG} ssh")
        vm.firewall.ipset.post(name=IPFILTER_SET, comment=f"{WARM_TAG} anti-spoofing")  # ipfilter needs its address
        vm.firewall.ipset(IPFILTER_SET).post(cidr=made.address)
        progress(f"warm pool {region.name}: starting VM {vmid}")
        recovery.wait_task(api, vm.status.start.post(), TASK_TIMEOUT)
        _wait_agent(vm)
        if env.warm_pool_organization:
            progress(f"warm pool {region.name}: Dokploy setup of VM {vmid} ({made.address})")
            self._prepare(made.address, keys)
        self.store().rename(pool, made.owner, f"{READY}{token}")
        progress(f"warm pool {region.name}: VM {vmid} on {node} ready")
        return vmid

    def _prepare(self, address: str, keys: dict[str, str]) -> None:
        """Run Dokploy's setup once in the platform's organization, then remove that registration again."""
        from provisioning.fleet_clients import organization_client

        env = self.environment
        assert env.warm_pool_organization is not None
        with organization_client(self.stacks, env.warm_pool_organization) as dokploy:
            marker = f"[warm-pool:{address}]"
            key = dokploy.register_ssh_key(f"warm-{address}", keys["public_key"], keys["private_key"], marker)
            server = dokploy.server_create(
                name=f"warm-{address}",
                description=f"dokploy-cloud warm pool {marker}",
                ip_address=address,
                port=22,
                username=env.vm_user,
                ssh_key_id=key["sshKeyId"],
            )
            try:
                dokploy.server_setup(server["serverId"], timeout=SETUP_TIMEOUT)
                dokploy.wait_ready(server["serverId"], timeout=SETUP_TIMEOUT, interval=1.0)
            finally:
                dokploy.server_remove(server["serverId"])
                dokploy.ssh_key_remove(key["sshKeyId"])


BPG_CLONE_HARDWARE = {"cpu": "qemu64", "scsihw": "virtio-scsi-pci", "ostype": "other", "ide3": "none,media=cdrom"}
"""What bpg writes into every VM it clones for us (its defaults for the tenant VM's inputs), written into warm VMs
too so that the tenant's VM resource, adopting one, reads back exactly what it declares."""


def clone_hardware(config: dict[str, Any]) -> dict[str, Any]:
    """The hardware settings that make a template's clone look like bpg configured it (see
    :data:`BPG_CLONE_HARDWARE`; bpg's disk has no ``iothread``)."""
    out: dict[str, Any] = dict(BPG_CLONE_HARDWARE)
    disk = str(config.get("scsi0", ""))
    if "iothread=" in disk:
        out["scsi0"] = ",".join(part for part in disk.split(",") if not part.startswith("iothread="))
    return out


def _wait_agent(vm: Any, timeout: float = AGENT_WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            vm.agent.ping.post()
            return
        except Exception:  # proxmoxer's ResourceException: "QEMU guest agent is not running"
            if time.monotonic() > deadline:
                raise TimeoutError(f"the guest agent did not answer within {timeout:.0f} s") from None
            time.sleep(delay)
            delay = min(1.0, delay * 2)
