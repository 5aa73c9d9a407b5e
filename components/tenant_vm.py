"""The tenant VM: a ``proxmoxve.VmLegacy`` cloned from the node's template, plus its firewall.

Sizing comes from the plan, the id/address/node from our allocation, SSH keys and the static
address from cloud-init. The firewall denies inbound traffic except SSH, HTTP and HTTPS, and
its IP filter lets the VM send only from its allocated address.
Cloud-init, CPU and memory changes apply in place (bpg reboots the VM when needed); a new node from the
allocation migrates it (``migrate=True``); only a new VM id replaces it (the clone source is read at creation
only). A warm-pool VM (``warm``) is declared without a clone source: bpg adopts the running VM at the id.
A suspended tenant's VM is stopped (``started=False``, and not started on node boot) but kept with its disk,
id and address; resuming starts it again in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi_proxmoxve as proxmoxve
from pulumi import Input, Output, ResourceOptions

from components.environment import Environment, Region
from components.naming import tenant_tags
from components.spec import Plan, TenantSpec
from providers.allocation import AllocationResource
from providers.ip_filter import IpFilter

INBOUND_ALLOWED = (("22", "SSH"), ("80", "HTTP"), ("443", "HTTPS"))
# Seconds bpg waits for each step; generous on real hardware, irrelevant on the simulator.
KEYS_PATH = "initialization.userAccount.keys"
"""The VM's cloud-init keys are set by the clone; later changes (a rotation, new extra keys) reach the running
guest and the VM's settings through :class:`providers.guest_keys.GuestKeys`, since bpg would reboot the VM."""
TIMEOUTS = {"timeout_clone": 1800, "timeout_create": 1800, "timeout_start_vm": 900, "timeout_reboot": 900}
"""Seconds bpg waits for each step; recovery's longest-run bound adds them up."""


def tenant_vm(
    name: str,
    *,
    spec: TenantSpec,
    env: Environment,
    region: Region,
    plan: Plan,
    allocation: AllocationResource,
    public_keys: Input[Sequence[str]],
    suffix: Output[str],
    index: int,
    opts: ResourceOptions,
    warm: bool = False,
) -> proxmoxve.VmLegacy:
    """Create the VM and its firewall options and rules; return the VM."""
    template = allocation.node.apply(lambda node: _template_for(region, node))
    vm = proxmoxve.VmLegacy(
        name,
        name=vm_name(spec, index, suffix),
        description=vm_description(spec, index),
        node_name=allocation.node,
        vm_id=allocation.vmid,
        # The region's pool, where the provisioning token holds its VM privileges; the tags say whose VM it is.
        pool_id=region.pool,
        tags=tenant_tags(spec.slug, spec.plan),
        # PVE refuses a target storage for linked clones: they live next to the template's disk.
        clone=None
        if warm
        else proxmoxve.VmLegacyCloneArgs(
            vm_id=template,
            node_name=allocation.node,
            full=region.full_clone,
            datastore_id=region.datastore if region.full_clone else None,
            retries=3,
        ),
        cpu=proxmoxve.VmLegacyCpuArgs(cores=plan.cores),
        memory=proxmoxve.VmLegacyMemoryArgs(dedicated=plan.memory_mb),
        disks=[proxmoxve.VmLegacyDiskArgs(interface="scsi0", datastore_id=region.datastore, size=plan.disk_gb)],
        network_devices=[proxmoxve.VmLegacyNetworkDeviceArgs(bridge=region.bridge, model="virtio", firewall=True)],
        agent=proxmoxve.VmLegacyAgentArgs(enabled=True),
        initialization=proxmoxve.VmLegacyInitializationArgs(
            datastore_id=region.datastore,
            user_account=proxmoxve.VmLegacyInitializationUserAccountArgs(username=env.vm_user, keys=public_keys),
            ip_configs=[
                proxmoxve.VmLegacyInitializationIpConfigArgs(
                    ipv4=proxmoxve.VmLegacyInitializationIpConfigIpv4Args(
                        address=allocation.cidr, gateway=region.gateway
                    ),
                )
            ],
            dns=proxmoxve.VmLegacyInitializationDnsArgs(servers=list(region.nameservers))
            if region.nameservers
            else None,
        ),
        started=not spec.suspended,
        on_boot=not spec.suspended,
        stop_on_destroy=True,
        purge_on_destroy=True,
        # A new node from the allocation (a drain, a resize the node cannot take) migrates the VM: same id,
        # disk, address and Dokploy registration, instead of a new clone.
        migrate=True,
        timeout_clone=TIMEOUTS["timeout_clone"],
        timeout_create=TIMEOUTS["timeout_create"],
        timeout_start_vm=TIMEOUTS["timeout_start_vm"],
        timeout_reboot=TIMEOUTS["timeout_reboot"],
        # The bridge fills an all-zero disk speed block into inputs that bpg's read never reports back,
        # which would show as a change on every preview. The clone source only matters when the VM is made:
        # a VM that migrates to another node (whose template has another id) or outlives its template is
        # kept, never cloned again.
        opts=ResourceOptions.merge(opts, ResourceOptions(ignore_changes=["disks[0].speed", "clone", KEYS_PATH])),
    )
    _firewall(name, vm, allocation, opts)
    return vm


def vm_name(spec: TenantSpec, index: int, suffix: Output[str]) -> Output[str]:
    """Server ``index``'s VM name: ``<slug>-<n>-<suffix>``."""
    return suffix.apply(lambda s: f"{spec.slug}-{index + 1}-{s}")


def vm_description(spec: TenantSpec, index: int) -> str:
    """Server ``index``'s VM description."""
    return f"Dokploy server {index + 1} of tenant {spec.slug} ({spec.display_name})"


def _template_for(region: Region, node: str) -> int:
    if node not in region.templates:
        raise ValueError(
            f"region {region.name}: no template configured for node '{node}' "
            f"(templates: {dict(region.templates)}); add one under regions.{region.name}.templates"
        )
    return region.templates[node]


def _firewall(name: str, vm: proxmoxve.VmLegacy, allocation: AllocationResource, opts: ResourceOptions) -> None:
    child = ResourceOptions.merge(opts, ResourceOptions(depends_on=[vm]))
    proxmoxve.firewall.OptionsLegacy(
        f"{name}-firewall",
        node_name=allocation.node,
        vm_id=vm.vm_id,
        enabled=True,
        input_policy="DROP",
        output_policy="ACCEPT",
        dhcp=False,
        ipfilter=True,
        macfilter=True,
        opts=child,
    )
    IpFilter(f"{name}-ipfilter", {"node": allocation.node, "vm_id": vm.vm_id, "address": allocation.address}, child)
    proxmoxve.firewall.RulesLegacy(
        f"{name}-firewall-rules",
        node_name=allocation.node,
        vm_id=vm.vm_id,
        rules=[
            proxmoxve.firewall.RulesLegacyRuleArgs(
                type="in", action="ACCEPT", proto="tcp", dport=port, comment=f"allow {label}", enabled=True
            )
            for port, label in INBOUND_ALLOWED
        ],
        opts=child,
    )
