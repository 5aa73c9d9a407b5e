"""Pulumi dynamic provider: a warm-pool VM made the tenant's before its stack's VM resource adopts it.

A VM cloned for a tenant gets its name and description with the clone and its keys and hostname from
cloud-init at first boot. A warm-pool VM (:mod:`provisioning.warm_pool`) was cloned and booted before its
tenant existed, and bpg, which treats the create's "already exists" as done, configures nothing. This
resource, created before the tenant's VM resource, gives the VM what that resource declares and bpg would have
written (name, description, tags, cloud-init user and keys, the NIC's firewall flag, the plan's disk size) and writes
``/home/<user>/.ssh/authorized_keys`` (replacing the pool's throw-away key) and ``/etc/hostname`` into the
running guest with the agent's ``file-write`` (``VM.GuestAgent.FileWrite``), so no reboot is needed. The
VM's cloud-init settings carry the same keys, so a later boot agrees. Later runs rewrite the guest's files
when the keys, user or hostname change; the VM's settings are bpg's from then on.

A stopped guest (a suspended tenant) cannot be written: the write waits for the next run that finds it
running (``written`` false). Deleting the resource changes nothing in the guest (its VM goes with it).
Proxmox credentials come from ``PROXMOX_VE_*`` inside each call (the provider object is pickled into state).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any, TypedDict

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from clients.proxmox import client_from_env
from clients.retry import RetryPolicy
from components.naming import WARM_ADOPTION_MODULE, WARM_ADOPTION_NAME

AGENT_RETRY = RetryPolicy(attempts=30, initial=0.5, maximum=2.0)
"""Up to about a minute for a guest agent that is still starting."""
WRITE_KEYS = ("user", "public_keys", "hostname")


class WarmAdoptionArgs(TypedDict, total=False):
    """Inputs of :class:`WarmAdoption`."""

    node: Input[str]
    vm_id: Input[int]
    name: Input[str]
    """The VM's name as the tenant's VM resource declares it."""
    description: Input[str]
    tags: Input[Sequence[str]]
    disk_gb: Input[int]
    user: Input[str]
    public_keys: Input[Sequence[str]]
    hostname: Input[str]
    running: Input[bool]
    """Whether the VM is meant to run (a suspended tenant's is not: nothing is written then)."""


def authorized_keys(keys: list[str]) -> str:
    """The file's content: one key per line."""
    return "".join(f"{key.strip()}\n" for key in keys if key.strip())


def _agent_not_ready(exc: BaseException) -> bool:
    text = str(exc)
    return "guest agent is not running" in text or "is not running" in text or "timed out" in text.lower()


def write_guest(props: dict[str, Any]) -> None:
    """Write the keys and the hostname into the guest (retrying while its agent starts)."""
    vm = client_from_env().nodes(props["node"]).qemu(int(props["vm_id"]))

    def write() -> None:
        vm.agent("file-write").post(
            file=f"/home/{props['user']}/.ssh/authorized_keys", content=authorized_keys(props["public_keys"])
        )
        vm.agent("file-write").post(file="/etc/hostname", content=f"{props['hostname']}\n")

    AGENT_RETRY.call(write, _agent_not_ready)


class WarmAdoptionProvider(ResourceProvider):
    """Names the VM and writes the guest on create; rewrites the guest whenever keys, user or hostname change;
    nothing on delete."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        vm = client_from_env().nodes(props["node"]).qemu(int(props["vm_id"]))
        config = vm.config.get()
        net = ",".join(p for p in str(config.get("net0", "")).split(",") if not p.startswith("firewall="))
        vm.config.put(
            name=props["name"],
            description=props["description"],
            tags=";".join(props["tags"]),
            ciuser=props["user"],
            sshkeys=urllib.parse.quote(authorized_keys(props["public_keys"]), safe=""),
            net0=f"{net},firewall=1",
        )
        vm.resize.put(disk="scsi0", size=f"{int(props['disk_gb'])}G")
        written = bool(props.get("running", True))
        if written:
            write_guest(props)
        return CreateResult(f"{props['node']}/{int(props['vm_id'])}", {**props, "written": written})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        rewrite = any(olds.get(k) != news.get(k) for k in WRITE_KEYS)
        overdue = not olds.get("written") and bool(news.get("running", True))
        moved = any(olds.get(k) != news.get(k) for k in ("node", "vm_id", "running"))
        return DiffResult(changes=rewrite or overdue or moved, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        running = bool(news.get("running", True))
        due = any(olds.get(k) != news.get(k) for k in WRITE_KEYS) or not olds.get("written")
        if running and due:
            write_guest(news)
        written = (running and due) or (not due and bool(olds.get("written")))
        return UpdateResult({**news, "written": written})


class WarmAdoption(Resource, module=WARM_ADOPTION_MODULE, name=WARM_ADOPTION_NAME):
    """A claimed warm-pool VM named for its tenant, with the tenant's keys and hostname in the running guest."""

    written: Output[bool]

    def __init__(self, name: str, args: WarmAdoptionArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__(WarmAdoptionProvider(), name, {**args, "written": None}, opts)
