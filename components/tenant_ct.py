"""The tenant container: a ``proxmoxve.ContainerLegacy`` created from the region's container image, plus its firewall.

Servers of ``kind: lxc`` plans are unprivileged containers with ``nesting`` on (Docker inside needs it), made
from the region's ``lxc_template`` OS image, never cloned: ``ssh-public-keys`` is accepted only when a container
is created (POST ``/nodes/{node}/lxc``), while bpg's clone path sends the keys in a config PUT, which PVE refuses.
``keyctl`` stays off: only root@pam may set it; unprivileged containers then see ``keyctl()`` fail with ENOSYS,
which runc tolerates (docs/platform/lxc.md, a claim still to prove on a real node).
Sizing comes from the plan, the id/address/node from our allocation. The firewall and IP filter are the VM's.
The login user is ``root`` (a container template has no cloud-init user); its keys are fixed at creation:
key rotation is refused for lxc tenants (:func:`refuse_key_rotation`).
A suspended tenant's container is stopped and not started on node boot; resuming starts it again in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi_proxmoxve as proxmoxve
from pulumi import Input, ResourceOptions

from components.environment import Region
from components.naming import tenant_tags
from components.spec import Plan, TenantSpec
from components.tenant_vm import INBOUND_ALLOWED
from providers.allocation import AllocationResource
from providers.ip_filter import IpFilter

CT_USER = "root"
"""The container's SSH user, and the Dokploy server's."""
TIMEOUTS = {"timeout_create": 1800, "timeout_start": 900, "timeout_update": 900, "timeout_delete": 900}
"""Seconds bpg waits for each step."""


def refuse_key_rotation(spec: TenantSpec, plan: Plan) -> None:
    """Raise when asked to rotate the keys of an lxc tenant: they are set only when its containers are created."""
    if plan.is_lxc:
        raise ValueError(
            f"tenant {spec.slug}: plan {plan.name!r} is an lxc plan; its containers' SSH keys are set only at "
            "creation (no guest agent in a container), so key rotation is not supported (docs/platform/lxc.md)"
        )


def tenant_ct(
    name: str,
    *,
    spec: TenantSpec,
    region: Region,
    plan: Plan,
    allocation: AllocationResource,
    public_keys: Input[Sequence[str]],
    hostname: str,
    description: str,
    opts: ResourceOptions,
) -> proxmoxve.ContainerLegacy:
    """Create the container and its firewall options, rules and IP filter; return the container."""
    if not region.lxc_template:
        raise ValueError(f"region {region.name}: plan {plan.name!r} is an lxc plan but lxc_template is not set")
    ct = proxmoxve.ContainerLegacy(
        name,
        description=description,
        node_name=allocation.node,
        vm_id=allocation.vmid,
        pool_id=region.pool,
        tags=tenant_tags(spec.slug, spec.plan),
        unprivileged=True,
        features=proxmoxve.ContainerLegacyFeaturesArgs(nesting=True),
        operating_system=proxmoxve.ContainerLegacyOperatingSystemArgs(
            template_file_id=region.lxc_template, type="ubuntu"
        ),
        cpu=proxmoxve.ContainerLegacyCpuArgs(cores=plan.cores),
        memory=proxmoxve.ContainerLegacyMemoryArgs(dedicated=plan.memory_mb, swap=0),
        disk=proxmoxve.ContainerLegacyDiskArgs(datastore_id=region.datastore, size=plan.disk_gb),
        network_interfaces=[
            proxmoxve.ContainerLegacyNetworkInterfaceArgs(name="eth0", bridge=region.bridge, firewall=True)
        ],
        initialization=proxmoxve.ContainerLegacyInitializationArgs(
            hostname=hostname.split(".")[0],
            user_account=proxmoxve.ContainerLegacyInitializationUserAccountArgs(keys=public_keys),
            ip_configs=[
                proxmoxve.ContainerLegacyInitializationIpConfigArgs(
                    ipv4=proxmoxve.ContainerLegacyInitializationIpConfigIpv4Args(
                        address=allocation.cidr, gateway=region.gateway
                    )
                )
            ],
            dns=proxmoxve.ContainerLegacyInitializationDnsArgs(servers=list(region.nameservers))
            if region.nameservers
            else None,
        ),
        started=not spec.suspended,
        start_on_boot=not spec.suspended,
        timeout_create=TIMEOUTS["timeout_create"],
        timeout_start=TIMEOUTS["timeout_start"],
        timeout_update=TIMEOUTS["timeout_update"],
        timeout_delete=TIMEOUTS["timeout_delete"],
        # The image and keys only matter when the container is made (PVE takes ssh-public-keys at create only),
        # and bpg replaces a container whose node changes (node_name is ForceNew; no live migration): none of
        # these may ever replace a tenant's container and its data. The drain refuses lxc tenants.
        opts=ResourceOptions.merge(
            opts,
            ResourceOptions(ignore_changes=["operatingSystem", "initialization.userAccount", "nodeName"]),
        ),
    )
    _firewall(name, ct, allocation, opts)
    return ct


def _firewall(name: str, ct: proxmoxve.ContainerLegacy, allocation: AllocationResource, opts: ResourceOptions) -> None:
    child = ResourceOptions.merge(opts, ResourceOptions(depends_on=[ct]))
    node = ct.node_name  # where the container is, which a later allocation change does not move
    proxmoxve.firewall.OptionsLegacy(
        f"{name}-firewall",
        node_name=node,
        container_id=ct.vm_id,
        enabled=True,
        input_policy="DROP",
        output_policy="ACCEPT",
        dhcp=False,
        ipfilter=True,
        macfilter=True,
        opts=child,
    )
    IpFilter(
        f"{name}-ipfilter",
        {"node": node, "vm_id": ct.vm_id, "address": allocation.address, "kind": "lxc"},
        child,
    )
    proxmoxve.firewall.RulesLegacy(
        f"{name}-firewall-rules",
        node_name=node,
        container_id=ct.vm_id,
        rules=[
            proxmoxve.firewall.RulesLegacyRuleArgs(
                type="in", action="ACCEPT", proto="tcp", dport=port, comment=f"allow {label}", enabled=True
            )
            for port, label in INBOUND_ALLOWED
        ],
        opts=child,
    )
