"""A single proxmoxve VM cloned from a template, against the endpoint in stack config."""

from __future__ import annotations

import pulumi
import pulumi_proxmoxve as proxmoxve

config = pulumi.Config()
provider = proxmoxve.Provider(
    "pve",
    endpoint=config.require("endpoint"),
    api_token=config.require_secret("apiToken"),
    insecure=True,
)
vm = proxmoxve.VmLegacy(
    "vm",
    node_name=config.get("node") or "pve1",
    clone=proxmoxve.VmLegacyCloneArgs(vm_id=config.get_int("templateId") or 9000),
    cpu=proxmoxve.VmLegacyCpuArgs(cores=config.get_int("cores") or 1),
    memory=proxmoxve.VmLegacyMemoryArgs(dedicated=config.get_int("memory") or 1024),
    agent=proxmoxve.VmLegacyAgentArgs(enabled=True),
    initialization=proxmoxve.VmLegacyInitializationArgs(
        user_account=proxmoxve.VmLegacyInitializationUserAccountArgs(
            username="dokploy",
            keys=[config.get("sshKey") or "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test"],
        ),
        ip_configs=[
            proxmoxve.VmLegacyInitializationIpConfigArgs(
                ipv4=proxmoxve.VmLegacyInitializationIpConfigIpv4Args(address="dhcp"),
            )
        ],
    ),
    pool_id=config.get("pool"),
    started=True,
    opts=pulumi.ResourceOptions(provider=provider, ignore_changes=["disks[0].speed"]),
)
pulumi.export("vmId", vm.vm_id)
pulumi.export("ipv4", vm.ipv4_addresses)
