"""The Proxmox roles and ACLs the product runs under: its least-privilege layout, per region.

One pool per region (``regions.<r>.pool``) holds every tenant VM; tags (``tenant-<slug>``) say whose
each is. The provisioning token is a privilege-separated API token of a dedicated user; user and token
both get the grants below and nothing else. ``docs/proxmox-privileges.md`` says why each privilege is
needed; ``tests/e2e/test_least_privilege.py`` shows the product runs with exactly this set and that
without any one privilege of it the product is refused with that privilege named.

``python -m provisioning.proxmox_access <env> [user@realm!tokenid]`` prints the ``pveum`` commands that
set the layout up on each region's cluster.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from components.environment import Environment, Region, load_environment
from components.spec.errors import SpecErrors

ROLES: dict[str, tuple[str, ...]] = {
    # On /pool/<pool>: PVE applies a pool's roles to its member VMs (/vms/<id>).
    "DokployCloudVM": (
        "VM.Allocate",
        "VM.Audit",
        "VM.Config.CDROM",
        "VM.Config.CPU",
        "VM.Config.Cloudinit",
        "VM.Config.Disk",
        "VM.Config.HWType",
        "VM.Config.Memory",
        "VM.Config.Network",
        "VM.Config.Options",
        "VM.GuestAgent.Audit",
        "VM.GuestAgent.FileWrite",
        "VM.PowerMgmt",
        "VM.Migrate",
        "VM.Backup",
        "Pool.Audit",
    ),
    "DokployCloudTemplate": ("VM.Clone",),
    "DokployCloudStorage": ("Datastore.AllocateSpace", "Datastore.Audit"),
    # On the storage of the regions' container image (lxc plans): PVE's check_volume_access lets a non-root
    # token use a vztmpl volume as a create's ostemplate with Datastore.AllocateSpace or Datastore.Audit.
    "DokployCloudImages": ("Datastore.Audit",),
    "DokployCloudNetwork": ("SDN.Use",),
    "DokployCloudNodes": ("Sys.Audit",),
    # On / only (no propagation): PVE checks reading and changing backup jobs there and nowhere else.
    "DokployCloudBackupJobs": ("Sys.Audit", "Sys.Modify"),
    # On the environment's archive storage: final backups are written there, and purged once their VMs
    # are gone, which PVE allows only with Datastore.Allocate on their storage.
    "DokployCloudArchive": ("Datastore.Allocate", "Datastore.AllocateSpace"),
}
DEFAULT_TOKEN = "dokploy-cloud@pve!provisioner"
SELF_CHECKED = ("Pool.Audit", "Sys.Audit", "Datastore.Audit")
"""Privileges whose absence PVE does not refuse but hides data; the product checks them itself and
names them: Pool.Audit (:func:`require_pool_visible`), Sys.Audit and Datastore.Audit (placement reads the
nodes' memory and the datastore's free space, ``ipam/placement.py``)."""


class ProxmoxAccessError(RuntimeError):
    """The provisioning token cannot do what the product needs; the message names path and privilege."""


@dataclass(frozen=True)
class Grant:
    """One ACL entry (propagate=1) given to the provisioning user and to its token."""

    path: str
    role: str
    propagate: bool = True


def grants(region: Region, environment: Environment | None = None) -> list[Grant]:
    """The ACL entries the provisioning user and token need on ``region``'s cluster; ``environment`` adds
    what its plans' backups and its archive need."""
    archive = environment.archive.storage if environment and environment.archive else None
    backups = [s for s in environment.backup_storages() if s not in (archive, region.datastore)] if environment else []
    has_jobs = environment is not None and any(p.backups for p in environment.plans.values())
    has_lxc = environment is not None and any(p.is_lxc for p in environment.plans.values())
    image_storage = region.lxc_template.split(":", 1)[0] if has_lxc and region.lxc_template else None
    return [
        Grant(f"/pool/{region.pool}", "DokployCloudVM"),
        *(Grant(f"/vms/{vmid}", "DokployCloudTemplate") for vmid in sorted(set(region.templates.values()))),
        Grant(f"/storage/{region.datastore}", "DokployCloudStorage"),
        *(Grant(f"/storage/{sid}", "DokployCloudStorage") for sid in backups),
        *([Grant(f"/storage/{archive}", "DokployCloudArchive")] if archive else []),
        *(
            [Grant(f"/storage/{image_storage}", "DokployCloudImages")]
            if image_storage and image_storage not in (region.datastore, archive, *backups)
            else []
        ),
        Grant(f"/sdn/zones/localnetwork/{region.bridge}", "DokployCloudNetwork"),
        Grant("/nodes", "DokployCloudNodes"),
        *([Grant("/", "DokployCloudBackupJobs", propagate=False)] if has_jobs else []),
    ]


def require_pool_visible(api: Any, region: Region) -> None:
    """Refuse when ``GET /pools`` does not list the region's pool (missing, or no ``Pool.Audit`` on it).

    Without it nothing fails at first: bpg reads every VM's ``pool_id`` back empty, each preview shows a
    change, and the next ``up`` is refused moving the VM into its own pool (``Pool.Allocate``), which
    names the wrong privilege. ``api`` is a proxmoxer client.
    """
    if region.pool not in {p.get("poolid") for p in api.pools.get()}:
        raise ProxmoxAccessError(
            f"region {region.name}: the Proxmox token does not see the pool '{region.pool}': create it and grant "
            f"Pool.Audit on /pool/{region.pool} (role DokployCloudVM; see docs/proxmox-privileges.md)"
        )


def pveum_commands(region: Region, token: str = DEFAULT_TOKEN, environment: Environment | None = None) -> list[str]:
    """What a cluster administrator runs once on ``region``'s cluster (as root) to set the layout up."""
    user, _, token_id = token.partition("!")
    out = [f"pveum role add {name} --privs {','.join(privs)}" for name, privs in ROLES.items()]
    out += [
        f"pveum pool add {region.pool} --comment 'Dokploy Cloud tenant VMs'",
        f"pveum user add {user} --comment 'Dokploy Cloud provisioning'",
        f"pveum user token add {user} {token_id} --privsep 1",
    ]
    for grant in grants(region, environment):
        flags = "" if grant.propagate else " --propagate 0"
        out.append(f"pveum acl modify {grant.path} --roles {grant.role} --users {user}{flags}")
        out.append(f"pveum acl modify {grant.path} --roles {grant.role} --tokens '{token}'{flags}")
    return out


def main(argv: list[str]) -> int:
    """CLI: print the set-up commands for every region of an environment."""
    from provisioning.toolchain import PROJECT_DIR  # the automation API, not needed inside the program

    if len(argv) not in (1, 2):
        print("usage: python -m provisioning.proxmox_access <env> [user@realm!tokenid]", file=sys.stderr)
        return 2
    try:
        env = load_environment(PROJECT_DIR, argv[0])
    except SpecErrors as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for region in env.regions.values():
        print(f"# region {region.name} ({region.endpoint})")
        print("\n".join(pveum_commands(region, argv[1] if len(argv) > 1 else DEFAULT_TOKEN, environment=env)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
