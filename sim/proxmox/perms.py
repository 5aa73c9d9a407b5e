"""Evaluation of a method's ``permissions`` from the schema (CONTRACT §2.5), plus the
value-dependent checks the handlers do (§2.7)."""

from __future__ import annotations

import json
import re
from typing import Any

from . import propstr as P
from .access import Access, normalize_path
from .exceptions import PermissionDenied

CPU_KEYS = {"cores", "sockets", "cpu", "cpulimit", "cpuunits", "vcpus", "numa", "affinity"}
MEM_KEYS = {"memory", "balloon", "shares", "allow-ksm"}
HW_KEYS = {
    "acpi",
    "hotplug",
    "kvm",
    "machine",
    "scsihw",
    "smbios1",
    "tablet",
    "vga",
    "watchdog",
    "audio0",
    "rng0",
    "vmgenid",
    "keyboard",
    "localtime",
    "freeze",
    "tdf",
    "spice_enhancements",
}
OPT_KEYS = {
    "agent",
    "name",
    "description",
    "onboot",
    "ostype",
    "protection",
    "tags",
    "bios",
    "template",
    "startdate",
    "autostart",
    "reboot",
    "migrate_speed",
    "migrate_downtime",
    "meta",
    "vmstatestorage",
}
CI_KEYS = {"ciuser", "cipassword", "sshkeys", "citype", "ciupgrade", "cicustom", "nameserver", "searchdomain"}
DISK_KEYS = {"boot", "bootdisk", "efidisk0", "tpmstate0"}
ROOT_ONLY = {
    "skiplock",
    "args",
    "arch",
    "affinity",
    "hugepages",
    "keephugepages",
    "hookscript",
    "ivshmem",
    "lock",
    "stateuri",
    "amd-sev",
    "intel-tdx",
}


def _fill(path: str, params: dict[str, Any]) -> str:
    return normalize_path(re.sub(r"\{([^}]+)\}", lambda m: str(params.get(m.group(1), "")), path))


def evaluate(check: list[Any], authid: str, params: dict[str, Any], access: Access) -> tuple[bool, str | None]:
    """(passed, failure detail). Detail None means a bare 'Permission check failed'."""
    op = check[0]
    if op == "perm":
        path, privs, opts = check[1], list(check[2]), check[3:]
        optd = dict(zip(opts[::2], opts[1::2], strict=False))  # key/value pairs
        if "require_param" in optd and optd["require_param"] not in params:
            return False, None
        full = _fill(path, params)
        if optd.get("any"):
            ok = access.has(authid, full, privs, any_=True)
            return ok, None if ok else f"{full}, {'|'.join(privs)}"
        have = access.privileges(authid, full)
        for priv in privs:
            if priv not in have:
                return False, f"{full}, {priv}"
        return True, None
    if op == "and":
        for sub in check[1:]:
            ok, detail = evaluate(sub, authid, params, access)
            if not ok:
                return False, detail
        return True, None
    if op == "or":
        for sub in check[1:]:
            if evaluate(sub, authid, params, access)[0]:
                return True, None
        return False, None
    if op == "userid-param":
        userid = str(params.get("userid", ""))
        if check[1] == "self":
            return userid == authid.split("!")[0], None
        realm = userid.split("@")[-1]
        return access.has(authid, f"/access/realm/{realm}", [check[1]]), None
    if op == "userid-group":
        return access.has(authid, "/access/groups", list(check[1])), None
    if op == "perm-modify":
        full = _fill(check[1], params)
        alloc = {"vms": "VM.Allocate", "storage": "Datastore.Allocate", "pool": "Pool.Allocate"}
        first = full.strip("/").split("/")[0]
        privs = ["Permissions.Modify"] + ([alloc[first]] if first in alloc else [])
        return access.has(authid, full, privs, any_=True), f"{full}, Permissions.Modify"
    return False, None


def check_method(info: dict[str, Any], authid: str, params: dict[str, Any], access: Access) -> None:
    """Raise PermissionDenied unless the schema's check passes (root@pam skips it)."""
    if authid == "root@pam":
        return
    perms = info.get("permissions")
    if perms is None:
        raise PermissionDenied("user != root@pam")
    if perms.get("user") in ("world", "all"):
        return
    check = perms.get("check")
    if check is None:
        return
    params = dict(params)
    ok, detail = access.decide(authid, "schema", lambda acc: evaluate(check, authid, params, acc), json.dumps(check))
    if not ok:
        raise PermissionDenied(detail)


def require(access: Access, authid: str, path: str, privs: list[str], any_: bool = False) -> None:
    """A handler-level check with PVE's message."""
    if authid == "root@pam":
        return
    ok, detail = access.decide(
        authid, "handler", lambda acc: acc.held(authid, path, privs, any_), f"{path} {'|'.join(privs)}"
    )
    if not ok:
        raise PermissionDenied(detail)


def require_volume_access(
    access: Access, authid: str, sid: str, owner: tuple[str, int | None] | None, vmid: int | None
) -> None:
    """PVE::Storage::check_volume_access as one decision: Datastore.Allocate on the storage; else the
    volume's own VM (``vmid`` is its owner); else for a backup Datastore.AllocateSpace and VM.Backup on
    the VM it was taken from; else Datastore.Allocate. A refusal names the check of the branch it ended in."""
    if authid == "root@pam":
        return
    content, owner_vmid = owner if owner is not None else ("", None)

    def test(acc: Access) -> tuple[bool, str | None]:
        if acc.held(authid, f"/storage/{sid}", ["Datastore.Allocate"], False)[0]:
            return True, None
        if owner_vmid is not None and vmid is not None and owner_vmid == vmid:
            return True, None
        if content == "backup" and owner_vmid is not None:
            ok, detail = acc.held(authid, f"/storage/{sid}", ["Datastore.AllocateSpace"], False)
            if not ok:
                return ok, detail
            return acc.held(authid, f"/vms/{owner_vmid}", ["VM.Backup"], False)
        return acc.held(authid, f"/storage/{sid}", ["Datastore.Allocate"], False)

    about = f"/storage/{sid} Datastore.Allocate|Datastore.AllocateSpace+/vms/{owner_vmid} VM.Backup"
    ok, detail = access.decide(authid, "volume-access", test, about)
    if not ok:
        raise PermissionDenied(detail)


def config_key_privs(key: str, value: Any) -> tuple[list[str], bool]:
    """Privileges a config key needs: (privs, any). Empty list = root only."""
    base = re.sub(r"\d+$", "", key)
    if key in CPU_KEYS or base == "numa":
        return ["VM.Config.CPU"], False
    if key in MEM_KEYS:
        return ["VM.Config.Memory"], False
    if key in HW_KEYS or (base == "serial" and str(value) == "socket"):
        return ["VM.Config.HWType"], False
    if key in OPT_KEYS:
        return ["VM.Config.Options"], False
    if key in CI_KEYS or base == "ipconfig":
        return ["VM.Config.Cloudinit", "VM.Config.Network"], True
    if base == "net":
        return ["VM.Config.Network"], False
    if P.is_disk_key(key) or key in DISK_KEYS or base == "unused":
        text = str(value or "")
        if text and P.is_cloudinit(text):
            return ["VM.Config.Cloudinit", "VM.Config.CDROM"], False
        if text and P.is_cdrom(text):
            return ["VM.Config.CDROM"], False
        return ["VM.Config.Disk"], False
    return [], False


def check_config_keys(
    access: Access, authid: str, vmid: int, params: dict[str, Any], deletes: list[str], current: dict[str, Any]
) -> None:
    """Per-key checks of config PUT/POST, SDN.Use on bridges and space on new volumes."""
    if authid == "root@pam":
        return
    path = f"/vms/{vmid}"
    for key in list(params) + deletes:
        if key in ("digest", "delete", "revert", "force", "background_delay", "node", "vmid"):
            continue
        if key not in params and key not in current:
            continue  # PVE skips deleting what is not configured, before any permission check
        if key in ROOT_ONLY:
            raise PermissionDenied(f"{path}, root@pam")
        value = params.get(key, current.get(key))
        privs, any_ = config_key_privs(key, value)
        if not privs:
            from .exceptions import HandlerError

            raise HandlerError(f"only root can set '{key}' config")
        require(access, authid, path, privs, any_)
        if re.match(r"^net\d+$", key) and key in params:
            bridge = P.parse_net(str(params[key])).get("bridge")
            if bridge:
                require(access, authid, f"/sdn/zones/localnetwork/{bridge}", ["SDN.Use"])
        if P.is_disk_key(key) and key in params:
            sid = P.volume_storage(P.parse_drive(str(params[key])).get("file", ""))
            if sid:
                require(access, authid, f"/storage/{sid}", ["Datastore.AllocateSpace"])
