"""Pulumi dynamic provider: the SSH keys a running tenant server accepts, written through its guest agent.

A server gets its keys from cloud-init at first boot. A key rotation must change them on the running guest
without a moment where Dokploy cannot log in, so each server has two of these resources:

* ``grant``, before the Dokploy server: the current key, the previous one and the extra keys. Dokploy still
  holds the previous key while this is written, and the new key works as soon as it is.
* ``revoke``, after the Dokploy server: the current key and the extra keys, once Dokploy holds the current key.
  It also sets the VM's cloud-init keys (``sshkeys``, ``VM.Config.Cloudinit``) so a later boot agrees; the VM
  resource leaves them alone after the clone, as bpg would reboot a running VM to change them.

Each writes ``/home/<user>/.ssh/authorized_keys`` with the agent's ``file-write`` (``VM.GuestAgent.FileWrite``)
when its key list changes. On create nothing is written for a key of the first generation when the VM's cloud-init
keys already hold it (cloud-init gave the guest exactly that); later generations, and a VM that holds another
key (adopted from an interrupted run), are written. A stopped guest is written by the first run that finds it
running (``written`` false until then). Deleting changes nothing in the guest (its VM goes with it).
Proxmox credentials come from ``PROXMOX_VE_*`` inside each call (the provider object is pickled into state).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any, TypedDict

from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from clients.proxmox import client_from_env
from components.naming import GUEST_KEYS_MODULE, GUEST_KEYS_NAME
from providers.warm_adoption import AGENT_RETRY, _agent_not_ready, authorized_keys

MOVED = ("node", "vm_id", "user")


class GuestKeysArgs(TypedDict, total=False):
    """Inputs of :class:`GuestKeys`."""

    node: Input[str]
    vm_id: Input[int]
    user: Input[str]
    keys: Input[Sequence[str]]
    """The public keys the server must accept, one OpenSSH line each."""
    generation: Input[int]
    """The tenant key's generation (1: cloud-init's own; later ones are written)."""
    running: Input[bool]
    """Whether the server is meant to run (a suspended tenant's is not: the write waits)."""
    cloud_init: Input[bool]
    """Also set the VM's cloud-init keys (the ``revoke`` stage)."""
    additive: Input[bool]
    """Write only when a key is added (the ``grant`` stage: removals are the ``revoke`` stage's to make)."""


def write_authorized_keys(props: dict[str, Any]) -> None:
    """Replace the user's ``authorized_keys`` in the guest (retrying while its agent starts)."""
    vm = client_from_env().nodes(props["node"]).qemu(int(props["vm_id"]))
    content = authorized_keys([str(k) for k in props["keys"]])
    AGENT_RETRY.call(
        lambda: vm.agent("file-write").post(file=f"/home/{props['user']}/.ssh/authorized_keys", content=content),
        _agent_not_ready,
    )


def write_cloud_init_keys(props: dict[str, Any]) -> None:
    """Set the VM's cloud-init ``sshkeys`` (applied at once, no reboot: the running guest was written already)."""
    vm = client_from_env().nodes(props["node"]).qemu(int(props["vm_id"]))
    vm.config.put(sshkeys=urllib.parse.quote(authorized_keys([str(k) for k in props["keys"]]), safe=""))


def _key_ids(lines: list[str]) -> set[str]:
    return {" ".join(line.split()[:2]) for line in lines if line.strip()}


def _cloud_init_agrees(props: dict[str, Any]) -> bool:
    """Whether the VM's cloud-init keys already hold ``keys`` (exactly, or at least for an additive stage).

    A VM cloned by this run holds them. One an interrupted run cloned with a key pair the state then lost (and
    the next run adopted) holds another key: it must be written, as the VM resource leaves cloud-init keys alone.
    """
    config = client_from_env().nodes(props["node"]).qemu(int(props["vm_id"])).config.get()
    have = _key_ids(urllib.parse.unquote(str(config.get("sshkeys", ""))).splitlines())
    want = _key_ids([str(k) for k in props["keys"]])
    return want <= have if props.get("additive") else want == have


def _written(props: dict[str, Any], due: bool) -> bool:
    """Write when due (the guest when running); whether the guest now holds ``keys``."""
    if due and props.get("cloud_init"):
        write_cloud_init_keys(props)
    if due and bool(props.get("running", True)):
        write_authorized_keys(props)
        return True
    return not due


class GuestKeysProvider(ResourceProvider):
    """Writes the guest's authorized keys when they change (or are overdue from a stopped guest)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        due = int(props.get("generation") or 1) > 1 or not _cloud_init_agrees(props)
        return CreateResult(f"{props['node']}/{int(props['vm_id'])}", {**props, "written": _written(props, due)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        old_keys, new_keys = list(olds.get("keys") or []), list(news.get("keys") or [])
        keys_changed = bool(set(new_keys) - set(old_keys)) if news.get("additive") else old_keys != new_keys
        changed = keys_changed or any(olds.get(k) != news.get(k) for k in (*MOVED, "running"))
        overdue = not olds.get("written") and bool(news.get("running", True))
        return DiffResult(changes=changed or overdue, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        due = (
            list(olds.get("keys") or []) != list(news.get("keys") or [])
            or any(olds.get(k) != news.get(k) for k in MOVED)
            or not olds.get("written")
        )
        return UpdateResult({**news, "written": _written(news, due)})


class GuestKeys(Resource, module=GUEST_KEYS_MODULE, name=GUEST_KEYS_NAME):
    """The keys one running tenant server accepts."""

    written: Output[bool]

    def __init__(self, name: str, args: GuestKeysArgs, opts: ResourceOptions | None = None) -> None:
        super().__init__(GuestKeysProvider(), name, {**args, "written": None}, opts)
