"""The default world: N nodes, local and shared storage, a cloud-init template, a tenant pool,
and a least-privilege provisioning token (CONTRACT §2.8)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .entities import GiB, Node, Pool, Storage, Vm

if TYPE_CHECKING:
    from .core import BackendCore

TEMPLATE_VMID = 9000
LXC_TEMPLATE_VMID = 8000
LXC_OSTEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
"""The container image archive every node holds (what ``pveam download`` puts on ``local``)."""
PROVISIONER_PRIVS = [
    "VM.Allocate",
    "VM.Audit",
    "VM.Config.CPU",
    "VM.Config.Memory",
    "VM.Config.Disk",
    "VM.Config.CDROM",
    "VM.Config.Cloudinit",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Config.HWType",
    "VM.PowerMgmt",
    "VM.GuestAgent.Audit",
    "VM.Backup",
    "VM.Migrate",
    "Pool.Audit",
    "Pool.Allocate",
]


def _uuid(backend: BackendCore) -> str:
    return str(uuid.UUID(int=backend.rng.getrandbits(128), version=4))


def seed_cluster(
    backend: BackendCore,
    nodes: int = 3,
    node_mem_gib: int = 64,
    node_cpus: int = 16,
    password: str = "simpass",
    template_per_node: bool = False,
) -> dict[str, Any]:
    """Populate an empty backend; returns the credentials created.

    The cloud-init template lives on local storage of the first node (id 9000); with
    ``template_per_node`` every node gets its own copy (ids 9000, 9001, ...), as clusters without
    shared storage are run so that any node can clone locally.
    """
    names = [f"pve{i + 1}" for i in range(nodes)]
    for name in names:
        backend.nodes[name] = Node(name, node_cpus, node_mem_gib * GiB, True, backend.clock() - 86400)
    backend.storages.update(
        {
            "local": Storage(
                "local", "dir", ["iso", "vztmpl", "backup", "snippets", "import"], 100 * GiB, path="/var/lib/vz"
            ),
            "local-lvm": Storage("local-lvm", "lvmthin", ["images", "rootdir"], 500 * GiB),
            "cephpool": Storage("cephpool", "rbd", ["images", "rootdir"], 2048 * GiB, shared=True),
            "nfs-backup": Storage("nfs-backup", "nfs", ["backup"], 4096 * GiB, shared=True, path="/mnt/pve/nfs-backup"),
        }
    )
    for offset, name in enumerate(names if template_per_node else names[:1]):
        _template(backend, name, TEMPLATE_VMID + offset)
    for name in names:
        backend.alloc_volume("local", name, LXC_OSTEMPLATE, 130 * 1024**2, None, content="vztmpl", fmt="tzst")
    for offset, name in enumerate(names if template_per_node else names[:1]):
        _lxc_template(backend, name, LXC_TEMPLATE_VMID + offset)
    backend.pools["tenants"] = Pool("tenants", "tenant VMs")
    return _seed_access(backend, password)


def seed_template(backend: BackendCore, node: str, vmid: int) -> None:
    """Another cloud-init template on ``node``, as an administrator would build it (a new template version)."""
    with backend.lock:
        _template(backend, node, vmid)


def _template(backend: BackendCore, node: str, vmid: int = TEMPLATE_VMID) -> None:
    disk = f"local-lvm:base-{vmid}-disk-0"
    backend.alloc_volume("local-lvm", node, disk, 8 * GiB, vmid)
    backend.alloc_volume("local-lvm", node, f"local-lvm:vm-{vmid}-cloudinit", 4 * 1024**2, vmid)
    config: dict[str, Any] = {
        "name": "ubuntu-2404-cloudinit",
        "memory": "2048",
        "cores": 2,
        "sockets": 1,
        "cpu": "x86-64-v2-AES",
        "ostype": "l26",
        "scsihw": "virtio-scsi-single",
        "boot": "order=scsi0",
        "agent": "1",
        "scsi0": f"{disk},iothread=1,size=8G",
        "ide2": f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
        "net0": f"virtio={backend.random_mac()},bridge=vmbr0,firewall=0",
        "serial0": "socket",
        "vga": "serial0",
        "ipconfig0": "ip=dhcp",
        "ciuser": "ubuntu",
        "template": 1,
        "smbios1": f"uuid={_uuid(backend)}",
        "vmgenid": _uuid(backend),
        "meta": "creation-qemu=9.0.2,ctime=1700000000",
    }
    backend.vms[vmid] = Vm(vmid, node, config)


def _lxc_template(backend: BackendCore, node: str, vmid: int = LXC_TEMPLATE_VMID) -> None:
    """An unprivileged container template with the features Docker needs (``keyctl`` is root-only to set,
    so the platform sets it once here and tenants' clones inherit it). Its MAC is fixed so seeding it draws
    nothing from the generator the other seeded ids come from."""
    disk = f"local-lvm:base-{vmid}-disk-0"
    backend.alloc_volume("local-lvm", node, disk, 8 * GiB, vmid, content="rootdir")
    mac = f"BC:24:11:00:{vmid // 256 % 256:02X}:{vmid % 256:02X}"
    config: dict[str, Any] = {
        "hostname": "ubuntu-2404-docker",
        "arch": "amd64",
        "ostype": "ubuntu",
        "cores": 2,
        "memory": 2048,
        "swap": 512,
        "rootfs": f"{disk},size=8G",
        "net0": f"name=eth0,bridge=vmbr0,hwaddr={mac},ip=dhcp,firewall=1,type=veth",
        "unprivileged": 1,
        "features": "keyctl=1,nesting=1",
        "template": 1,
    }
    backend.vms[vmid] = Vm(vmid, node, config, kind="lxc")


def _seed_access(backend: BackendCore, password: str) -> dict[str, Any]:
    acc = backend.access
    acc.users["root@pam"].pw_hash = ""
    acc.add_user("root@pam", password)
    acc.roles["TenantProvisioner"] = set(PROVISIONER_PRIVS)
    acc.roles["TemplateCloner"] = {"VM.Clone", "VM.Audit"}
    acc.roles["NodeAuditor"] = {"Sys.Audit"}
    acc.add_user("svc@pve", password)
    prov_secret, admin_secret = _uuid(backend), _uuid(backend)
    acc.add_token("svc@pve", "prov", prov_secret, privsep=True)
    acc.add_token("root@pam", "admin", admin_secret, privsep=False)
    templates = sorted(vmid for vmid, vm in backend.vms.items() if vm.config.get("template"))
    grants = [
        *((f"/vms/{vmid}", "TemplateCloner") for vmid in templates),
        ("/pool/tenants", "TenantProvisioner"),
        ("/storage/local-lvm", "PVEDatastoreUser"),
        ("/storage/cephpool", "PVEDatastoreUser"),
        ("/storage/local", "PVEDatastoreUser"),
        ("/sdn/zones/localnetwork", "PVESDNUser"),
        ("/nodes", "NodeAuditor"),
    ]
    for path, role in grants:
        acc.add_acl(path, role, user="svc@pve")
        acc.add_acl(path, role, token="svc@pve!prov")
    return {
        "provisioner": {"user": "svc@pve", "token_name": "prov", "token_value": prov_secret},
        "admin": {"user": "root@pam", "token_name": "admin", "token_value": admin_secret},
        "password": password,
    }


def credentials(backend: BackendCore) -> dict[str, Any]:
    """Seeded tokens as they are now (for printing at start-up)."""
    out = {}
    for key, full in (("provisioner", "svc@pve!prov"), ("admin", "root@pam!admin")):
        tok = backend.access.tokens.get(full)
        if tok:
            out[key] = {"user": tok.userid, "token_name": tok.tokenid, "token_value": tok.secret}
    return out
