"""The ``<env>.control-plane`` stack: the Dokploy control plane's VM, its user-data snippet, firewall and DNS record.

The VM is cloned from the region's template on the declared node and boots the rendered cloud-init (:mod:`.render`),
delivered as a snippet. bpg uploads snippets over SSH to the node (the API's upload takes no snippets), so ``up``
needs the node's SSH as well as an administrator token: it is a platform-admin operation, never run with the
tenants' provisioning token. Dokploy itself cannot run here; the rendered files are validated statically
(:mod:`.validate`) and ``preview`` runs in CI against the simulated cloud.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_proxmoxve as proxmoxve
from pulumi import ResourceOptions

from components.control_plane.declaration import ControlPlane, load_control_plane
from components.control_plane.render import render
from components.environment import load_environment
from providers.dns_record import DnsRecord, DnsRecordArgs

SNIPPETS_STORAGE = "local"
"""The node's directory storage with ``snippets`` content, where the user-data is uploaded."""
INBOUND = (("80", "HTTP (redirects to HTTPS)"), ("443", "HTTPS: Dokploy behind Traefik"))


def main(project_dir: Path, env_name: str) -> None:
    """Declare the control plane of ``env_name``."""
    environment = load_environment(project_dir, env_name)
    plane = load_control_plane(project_dir, env_name)
    region = environment.regions[plane.region]
    provider = proxmoxve.Provider(
        f"proxmox-{region.name}", endpoint=region.endpoint, insecure=region.insecure, min_tls="1.3"
    )
    opts = ResourceOptions(provider=provider)
    files = render(plane)
    user_data = proxmoxve.FileLegacy(
        "control-plane-user-data",
        node_name=plane.node,
        datastore_id=SNIPPETS_STORAGE,
        content_type="snippets",
        source_raw=proxmoxve.FileLegacySourceRawArgs(
            data=files["cloud-init.yaml"], file_name=f"dokploy-control-plane-{env_name}.yaml"
        ),
        opts=opts,
    )
    vm = _vm(plane, region.templates[plane.node], region.datastore, region.bridge, user_data, opts)
    _firewall(plane, vm, opts)
    DnsRecord(
        "control-plane-dns",
        DnsRecordArgs(
            zone=environment.zone, name=f"{plane.fqdn}.", type="A", content=[plane.ip], ttl=environment.dns_ttl
        ),
        ResourceOptions(depends_on=[vm]),
    )
    pulumi.export("publicAppUrl", plane.public_url)
    pulumi.export("address", plane.ip)
    pulumi.export("vmId", vm.vm_id)
    pulumi.export("renderedFiles", sorted(files))


def _vm(
    plane: ControlPlane,
    template: int,
    datastore: str,
    bridge: str,
    user_data: proxmoxve.FileLegacy,
    opts: ResourceOptions,
) -> proxmoxve.VmLegacy:
    return proxmoxve.VmLegacy(
        "control-plane",
        name=f"dokploy-control-plane-{plane.env}",
        description=f"Dokploy control plane of environment {plane.env} ({plane.public_url})",
        node_name=plane.node,
        vm_id=plane.vmid,
        tags=["dokploy-cloud", "control-plane"],
        clone=proxmoxve.VmLegacyCloneArgs(vm_id=template, node_name=plane.node, full=True, datastore_id=datastore),
        cpu=proxmoxve.VmLegacyCpuArgs(cores=plane.cores),
        memory=proxmoxve.VmLegacyMemoryArgs(dedicated=plane.memory_mb),
        disks=[proxmoxve.VmLegacyDiskArgs(interface="scsi0", datastore_id=datastore, size=plane.disk_gb)],
        network_devices=[proxmoxve.VmLegacyNetworkDeviceArgs(bridge=bridge, model="virtio", firewall=True)],
        agent=proxmoxve.VmLegacyAgentArgs(enabled=True),
        initialization=proxmoxve.VmLegacyInitializationArgs(
            datastore_id=datastore,
            user_data_file_id=user_data.id,
            ip_configs=[
                proxmoxve.VmLegacyInitializationIpConfigArgs(
                    ipv4=proxmoxve.VmLegacyInitializationIpConfigIpv4Args(address=plane.address, gateway=plane.gateway)
                )
            ],
        ),
        on_boot=True,
        started=True,
        stop_on_destroy=True,
        opts=ResourceOptions.merge(opts, ResourceOptions(protect=plane.env != "local")),
    )


def _firewall(plane: ControlPlane, vm: proxmoxve.VmLegacy, opts: ResourceOptions) -> None:
    child = ResourceOptions.merge(opts, ResourceOptions(depends_on=[vm]))
    proxmoxve.firewall.OptionsLegacy(
        "control-plane-firewall",
        node_name=plane.node,
        vm_id=vm.vm_id,
        enabled=True,
        input_policy="DROP",
        output_policy="ACCEPT",
        opts=child,
    )
    rules = [
        proxmoxve.firewall.RulesLegacyRuleArgs(
            type="in", action="ACCEPT", proto="tcp", dport=port, comment=label, enabled=True
        )
        for port, label in INBOUND
    ] + [
        proxmoxve.firewall.RulesLegacyRuleArgs(
            type="in",
            action="ACCEPT",
            proto="tcp",
            dport=port,
            source=plane.operator_network,
            comment=label,
            enabled=True,
        )
        for port, label in (("22", "SSH from the operator network"), ("9100", "node exporter scrape"))
    ]
    proxmoxve.firewall.RulesLegacy(
        "control-plane-firewall-rules", node_name=plane.node, vm_id=vm.vm_id, rules=rules, opts=child
    )
