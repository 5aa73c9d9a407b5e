"""Pulumi dynamic provider: a tenant VM's anti-spoofing set, ``ipfilter-net0`` = its allocated address.

With the VM firewall's ``ipfilter`` on, PVE drops what the VM sends from an address outside this set, and adds no
address of a VM to it by itself (it does for containers): without the set the VM could send from no address.

Why not bpg's ipset resource: PVE keeps one firewall configuration per VM wherever the VM runs, but bpg keys the
set by node; after a migration its in-place update loses the set's entries and its replacement collides with the
set that moved with the VM. This resource makes the set so (creates it, removes other entries, adds the address):
creating over a set an interrupted run left is the same as creating anew, and a migration needs no call. It reads
the VM's node from the allocation, which the drain updates before the VM moves. Proxmox credentials come from
``PROXMOX_VE_*`` inside each call (the provider object is pickled into state).
A container's set lives under ``/nodes/{node}/lxc/{vmid}/firewall`` (``kind: lxc``); PVE also adds the
container's configured address itself, so the set holding exactly that address changes nothing it enforces.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from proxmoxer.core import ResourceException
from pulumi import Input, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from clients.proxmox import client_from_env
from components.naming import IP_FILTER_MODULE, IP_FILTER_NAME, IPFILTER_SET

COMMENT = "dokploy-cloud anti-spoofing: the VM's allocated address"


class IpFilterArgs(TypedDict):
    """Inputs of :class:`IpFilter`."""

    node: Input[str]
    vm_id: Input[int]
    address: Input[str]
    kind: NotRequired[Input[str]]
    """``qemu`` (default) or ``lxc``: which guest's firewall holds the set."""


GUEST_KINDS = ("qemu", "lxc")


def _firewall(node: str, vm_id: int, kind: str) -> Any:
    if kind not in GUEST_KINDS:
        raise ValueError(f"ip filter of guest {vm_id}: kind {kind!r} is not one of {GUEST_KINDS}")
    return getattr(client_from_env().nodes(node), kind)(int(vm_id)).firewall


def ensure_set(node: str, vm_id: int, address: str, kind: str = "qemu") -> None:
    """Make ``ipfilter-net0`` of the guest hold exactly ``address``."""
    firewall = _firewall(node, vm_id, kind)
    if not any(s.get("name") == IPFILTER_SET for s in firewall.ipset.get()):
        firewall.ipset.post(name=IPFILTER_SET, comment=COMMENT)
    entries = [str(e["cidr"]) for e in firewall.ipset(IPFILTER_SET).get()]
    for cidr in entries:
        if cidr.split("/")[0] != address or int(cidr.split("/")[1] if "/" in cidr else 32) != 32:
            firewall.ipset(IPFILTER_SET)(cidr).delete()
    if not any(c.split("/")[0] == address for c in entries):
        firewall.ipset(IPFILTER_SET).post(cidr=address, comment="allocated")


class IpFilterProvider(ResourceProvider):
    """Makes the set on create and when the address changes; a node change (migration) needs no call."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        ensure_set(str(props["node"]), int(props["vm_id"]), str(props["address"]), str(props.get("kind", "qemu")))
        return CreateResult(f"{int(props['vm_id'])}/{IPFILTER_SET}", dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(k) != news.get(k) for k in ("node", "vm_id", "address", "kind"))
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if any(olds.get(k) != news.get(k) for k in ("vm_id", "address", "kind")):
            ensure_set(str(news["node"]), int(news["vm_id"]), str(news["address"]), str(news.get("kind", "qemu")))
        return UpdateResult(dict(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Remove the set with its VM's firewall; a VM already gone took it with it."""
        firewall = _firewall(str(props["node"]), int(props["vm_id"]), str(props.get("kind", "qemu")))
        try:
            for entry in firewall.ipset(IPFILTER_SET).get():
                firewall.ipset(IPFILTER_SET)(entry["cidr"]).delete()
            firewall.ipset(IPFILTER_SET).delete()
        except ResourceException as exc:
            if exc.status_code not in (403, 404, 500):  # no such VM, set or node: nothing left to remove
                raise


class IpFilter(Resource, module=IP_FILTER_MODULE, name=IP_FILTER_NAME):
    """The VM's ``ipfilter-net0`` set holding its allocated address."""

    def __init__(self, name: str, args: IpFilterArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__(IpFilterProvider(), name, dict(args), opts)
