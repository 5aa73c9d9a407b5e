"""``TenantEnvironment``: one tenant's servers — each a cloned VM with a DNS name, registered in Dokploy.

Per tenant: an SSH key pair and a random suffix. Per server ``i``: an allocation (VM id, address,
node, chosen by us before anything is cloned), the VM, an A record and the Dokploy server. Children
are named ``<tenant>-<part>`` or ``<tenant>-s<i>-<part>`` so URNs stay stable when servers are added.

A tenant whose spec says ``state: suspended`` keeps every resource: its VMs are stopped (not
deleted, so id, address and disk survive), its DNS records stay, and its Dokploy registrations are
left exactly as they are (a server never set up, because the tenant was suspended before its first setup,
is registered without setup; the resume sets it up). Dokploy's API offers no way to mark a server inactive
(``serverStatus`` is set only by Dokploy Cloud's own billing, CONTRACT §5.1/§8), and ``server.remove`` is refused while
the server hosts services and would drop its deployment history (§5.4); so the server becomes
unusable because its host is off, and no Dokploy input changes, which also keeps ``server.update``
(404 ``Server is inactive`` once Dokploy Cloud has deactivated it) out of the suspend and resume runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi_proxmoxve as proxmoxve
import pulumi_random as random
from pulumi import ComponentResource, Output, Resource, ResourceOptions

from components.environment import Environment, Region
from components.naming import (
    KEY_ROTATION_VAR,
    allocation_owner,
    allocation_pool,
    backup_job_id,
    backup_notes_template,
    server_marker,
    tenant_tags,
)
from components.spec import Plan, TenantSpec
from components.spec.hostnames import server_labels
from components.tenant_ct import CT_USER, refuse_key_rotation, tenant_ct
from components.tenant_vm import tenant_vm, vm_description, vm_name
from providers.allocation import AllocationResource
from providers.dns_record import DnsRecord, DnsRecordArgs
from providers.dokploy_server import DokployServer, DokployServerArgs
from providers.guest_keys import GuestKeys, GuestKeysArgs
from providers.ssh_keypair import SshKeyPair
from providers.warm_adoption import WarmAdoption
from provisioning.vault_store import tenant_key_path, uses_vault


@dataclass(frozen=True)
class TenantEnvironmentArgs:
    """Inputs of :class:`TenantEnvironment`: the validated spec plus the environment it lives in."""

    spec: TenantSpec
    """The tenant's declaration (tenants/<slug>.yaml), already validated."""
    environment: Environment
    """Environment-wide settings (Pulumi.<env>.yaml)."""
    proxmox: proxmoxve.Provider
    """Provider for the tenant's region; created by the program, not by the component."""
    warm_servers: frozenset[int] = frozenset()
    """Servers whose VM came from the warm pool, booted before the tenant existed: their keys and hostname go
    into the running guest through its agent before the VM resource adopts it
    (:class:`providers.warm_adoption.WarmAdoption`)."""

    @property
    def plan(self) -> Plan:
        return self.environment.plans[self.spec.plan]

    @property
    def region(self) -> Region:
        return self.environment.regions[self.spec.region]


@dataclass
class TenantServer:
    """Outputs of one tenant server."""

    vm_id: Output[int]
    node: Output[str]
    address: Output[str]
    hostname: str
    dokploy_server_id: Output[str]
    template_id: Output[int | None]
    """The template the VM was cloned from, as the state recorded it at creation (``clone`` changes are ignored,
    so a later template version never changes it); None for a warm-pool VM (adopted, not cloned) or a container."""


class TenantEnvironment(ComponentResource):
    """A tenant's Proxmox VMs, DNS records, SSH key and Dokploy servers."""

    servers: list[TenantServer]
    hostnames: list[str]

    def __init__(self, name: str, args: TenantEnvironmentArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__("dokploy-cloud:tenant:TenantEnvironment", name, None, opts)
        spec, env = args.spec, args.environment
        if spec.region not in env.regions:
            raise ValueError(f"tenant {spec.slug}: region '{spec.region}' is not one of {sorted(env.regions)}")
        if spec.plan not in env.plans:
            raise ValueError(f"tenant {spec.slug}: plan '{spec.plan}' is not one of {sorted(env.plans)}")
        child = ResourceOptions(parent=self)
        self.vms: list[proxmoxve.VmLegacy | proxmoxve.ContainerLegacy] = []
        self.rotating = bool(os.environ.get(KEY_ROTATION_VAR))
        if self.rotating:
            refuse_key_rotation(spec, args.plan)
        vault = uses_vault()
        self.ssh_key = SshKeyPair(
            f"{name}-sshkey",
            {
                "comment": f"{env.vm_user}@{spec.slug}",
                "rotation": os.environ.get(KEY_ROTATION_VAR) or None,
                "backend": "vault" if vault else "state",
                "vault_path": tenant_key_path(env.name, spec.slug) if vault else None,
            },
            child,
        )
        self.suffix = random.RandomString(f"{name}-suffix", length=6, special=False, upper=False, opts=child)
        self.servers = [self._server(name, index, args) for index in range(spec.servers)]
        self.hostnames = [s.hostname for s in self.servers]
        self.backup_job = self._backup_job(name, args)
        self.register_outputs(
            {
                "vmIds": Output.all(*[s.vm_id for s in self.servers]),
                "nodes": Output.all(*[s.node for s in self.servers]),
                "addresses": Output.all(*[s.address for s in self.servers]),
                "hostnames": self.hostnames,
                "dokployServerIds": Output.all(*[s.dokploy_server_id for s in self.servers]),
                "templateIds": Output.all(*[s.template_id for s in self.servers]),
                "state": spec.state,
            }
        )

    def _server(self, name: str, index: int, args: TenantEnvironmentArgs) -> TenantServer:
        spec, env, region, plan = args.spec, args.environment, args.region, args.plan
        child = ResourceOptions(parent=self)
        prefix = f"{name}-s{index}"
        hostname = f"{server_labels(spec.host_label, spec.servers, spec.hostname_scheme)[index]}.{env.zone}"
        allocation = AllocationResource(
            f"{prefix}-alloc",
            {
                "pool": allocation_pool(env.name, region.name),
                "owner": allocation_owner(spec.slug, index),
                "vmid_start": region.vmid_start,
                "vmid_end": region.vmid_end,
                "network": region.network,
                "gateway": region.gateway,
                "reserved": region.reserved,
                "nodes": list(region.nodes),
                "memory_mb": plan.memory_mb,
                "cores": plan.cores,
                "disk_gb": plan.disk_gb,
                "datastore": region.datastore,
                "strict_spread": region.strict_spread,
            },
            child,
        )
        if plan.is_lxc:
            return self._container_server(prefix, index, hostname, allocation, args)
        adopted: list[Resource] = []
        if index in args.warm_servers:  # a warm-pool VM: named and given the tenant's keys before bpg adopts it
            adopted.append(
                WarmAdoption(
                    f"{prefix}-adoption",
                    {
                        "node": allocation.node,
                        "vm_id": allocation.vmid,
                        "name": vm_name(spec, index, self.suffix.result),
                        "description": vm_description(spec, index),
                        "tags": tenant_tags(spec.slug, spec.plan),
                        "disk_gb": plan.disk_gb,
                        "user": env.vm_user,
                        "public_keys": self._granted_keys(spec),
                        "hostname": hostname,
                        "running": not spec.suspended,
                    },
                    child,
                )
            )
        vm = tenant_vm(
            f"{prefix}-vm",
            spec=spec,
            env=env,
            region=region,
            plan=plan,
            allocation=allocation,
            public_keys=self._authorized_keys(spec),
            suffix=self.suffix.result,
            index=index,
            opts=ResourceOptions(parent=self, provider=args.proxmox, depends_on=adopted),
            warm=index in args.warm_servers,
        )
        self.vms.append(vm)

        def guest_keys(
            keys: Output[Sequence[str]], *, additive: bool = False, cloud_init: bool = False
        ) -> GuestKeysArgs:
            return GuestKeysArgs(
                node=allocation.node,
                vm_id=allocation.vmid,
                user=env.vm_user,
                running=not spec.suspended,
                keys=keys,
                generation=self.ssh_key.generation,
                additive=additive,
                cloud_init=cloud_init,
            )

        grant = GuestKeys(
            f"{prefix}-keys-grant",
            guest_keys(self._granted_keys(spec), additive=True, cloud_init=True),
            ResourceOptions(parent=self, depends_on=[vm]),
        )
        dokploy = self._dns_and_dokploy(prefix, index, hostname, allocation, args, env.vm_user, [vm, grant])
        GuestKeys(
            f"{prefix}-keys-revoke",
            guest_keys(self._authorized_keys(spec), cloud_init=True),
            ResourceOptions(parent=self, depends_on=[dokploy]),
        )
        return TenantServer(
            vm_id=allocation.vmid,
            node=allocation.node,
            address=allocation.address,
            hostname=hostname,
            dokploy_server_id=dokploy.server_id,
            template_id=vm.clone.apply(lambda clone: clone.vm_id if clone else None),
        )

    def _container_server(
        self, prefix: str, index: int, hostname: str, allocation: AllocationResource, args: TenantEnvironmentArgs
    ) -> TenantServer:
        """A server of an lxc plan: the container (keys set at creation; no guest-agent key steps), its DNS
        record and its Dokploy registration as ``root``."""
        spec = args.spec
        if index in args.warm_servers:
            raise ValueError(f"tenant {spec.slug}: plan {spec.plan!r} is an lxc plan; warm pools hold VMs only")
        ct = tenant_ct(
            f"{prefix}-ct",
            spec=spec,
            region=args.region,
            plan=args.plan,
            allocation=allocation,
            public_keys=self._authorized_keys(spec),
            hostname=hostname,
            description=vm_description(spec, index),
            opts=ResourceOptions(parent=self, provider=args.proxmox),
        )
        self.vms.append(ct)
        dokploy = self._dns_and_dokploy(prefix, index, hostname, allocation, args, CT_USER, [ct])
        return TenantServer(
            vm_id=allocation.vmid,
            node=allocation.node,
            address=allocation.address,
            hostname=hostname,
            dokploy_server_id=dokploy.server_id,
            template_id=Output.from_input(None),
        )

    def _dns_and_dokploy(
        self,
        prefix: str,
        index: int,
        hostname: str,
        allocation: AllocationResource,
        args: TenantEnvironmentArgs,
        username: str,
        after: list[Resource],
    ) -> DokployServer:
        """The server's DNS record and its Dokploy registration (SSH as ``username``, once ``after`` exist)."""
        spec, env = args.spec, args.environment
        DnsRecord(
            f"{prefix}-dns",
            DnsRecordArgs(zone=env.zone, name=f"{hostname}.", type="A", content=[allocation.address], ttl=env.dns_ttl),
            ResourceOptions(parent=self),
        )
        return DokployServer(
            f"{prefix}-dokploy",
            DokployServerArgs(
                name=f"{spec.slug}-{index + 1}",
                organization_id=spec.dokploy_organization,
                ip_address=allocation.address,
                public_key=self.ssh_key.public_key,
                private_key=self.ssh_key.private_key,
                username=username,
                description=f"{spec.display_name} server {index + 1} ({hostname})",
                setup=not spec.suspended,  # a stopped guest cannot be set up: its first setup waits for the resume
                marker=self.suffix.result.apply(lambda suffix: server_marker(env.name, spec.slug, index, suffix)),
            ),
            ResourceOptions(parent=self, depends_on=after),
        )

    def _backup_job(self, name: str, args: TenantEnvironmentArgs) -> proxmoxve.backup.Job | None:
        """The plan's scheduled backups of every server, as one Proxmox backup job (none without backups).

        A plan change updates the job in place (same id); a suspended tenant keeps it, so its stopped
        servers go on being backed up. Created after the VMs, so it is removed before them.
        """
        policy, spec, env = args.plan.backups, args.spec, args.environment
        if policy is None:
            return None
        return proxmoxve.backup.Job(
            f"{name}-backups",
            resource_id=backup_job_id(env.name, spec.slug),
            schedule=policy.schedule,
            storage=policy.storage,
            vmids=Output.all(*[s.vm_id for s in self.servers]).apply(lambda ids: [str(i) for i in ids]),
            mode=policy.mode,
            compress=policy.compress,
            prune_backups=policy.prune_backups,
            notes_template=backup_notes_template(env.name, spec.slug),
            enabled=True,
            opts=ResourceOptions(parent=self, provider=args.proxmox, depends_on=self.vms),
        )

    def _authorized_keys(self, spec: TenantSpec) -> Output[Sequence[str]]:
        """The keys a server accepts: the tenant's current key and the declared extra keys."""
        return self.ssh_key.public_key.apply(lambda key: [key, *spec.extra_ssh_keys])

    def _granted_keys(self, spec: TenantSpec) -> Output[Sequence[str]]:
        """During a rotation (and its retries), the previous key too, until Dokploy holds the new one."""
        if not self.rotating:
            return self._authorized_keys(spec)
        pair = Output.all(self.ssh_key.public_key, self.ssh_key.previous_public_key)
        return pair.apply(lambda keys: [keys[0], *([keys[1]] if keys[1] else []), *spec.extra_ssh_keys])
