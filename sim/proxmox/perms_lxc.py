"""Per-key permission checks of container config writes: pve-container's ``check_ct_modify_config_perm``
(src/PVE/LXC.pm), followed line by line.

The schema's method-level check (``VM.Config.*`` any, on ``/vms/{vmid}``) runs first in the app; this is
the handler-level check of each key. ``features`` follow pve-container: privileged containers' flags are
root-only; on unprivileged ones only ``nesting`` may change without root (it needs ``VM.Allocate``): a
least-privilege token cannot create a container with ``keyctl``, but a clone inherits it from its template
without a check (clone copies the config; no key is "changed").
"""

from __future__ import annotations

import re
from typing import Any

from . import propstr as P
from .access import Access
from .exceptions import PermissionDenied
from .perms import require

CPU = {"cores", "cpulimit", "cpuunits"}
MEMORY = {"memory", "swap"}
NETWORK = {"nameserver", "searchdomain", "hostname"}
NEW_DISK_RE = re.compile(r"^([a-zA-Z][\w\-.]*):(\d+(?:\.\d+)?)$")


def _flags(text: Any) -> dict[str, str]:
    return P.parse(str(text)) if text else {}


def _feature_change(old: dict[str, str], new: dict[str, str] | None) -> tuple[bool, bool]:
    """(nesting changed, another flag changed), counted as pve-container counts them."""
    if new is None:  # delete: what the old value held
        new, old = old, {}
    if old:
        nesting = other = False
        for flag in list(old) + list(new):
            if old.get(flag, "") != new.get(flag, ""):
                if flag != "nesting":
                    return nesting, True
                nesting = True
        return nesting, other
    if len(new) == 1 and new.get("nesting") not in (None, "0"):
        return True, False
    return False, bool(new)


def check_ct_keys(
    access: Access,
    authid: str,
    vmid: int,
    params: dict[str, Any],
    deletes: list[str],
    current: dict[str, Any],
    pool: str | None = None,
) -> None:
    """Raise PermissionDenied (PVE's text) when ``authid`` may not set or delete one of the keys."""
    if authid == "root@pam":
        return
    path = f"/vms/{vmid}"

    def vm_perm(privs: list[str]) -> None:
        """PVE's check_vm_perm: the privileges on the guest, or (on create) on the pool it goes into."""
        if pool and not access.held(authid, path, privs, False)[0]:
            require(access, authid, f"/pool/{pool}", privs)
        else:
            require(access, authid, path, privs)

    unprivileged = str(current.get("unprivileged", params.get("unprivileged", 0))) in ("1", "True", "true")
    checks = [(k, params[k], False) for k in params] + [(k, current.get(k), True) for k in deletes]
    for key, value, delete in checks:
        if key in CPU:
            vm_perm(["VM.Config.CPU"])
        elif key == "rootfs" or re.match(r"^mp\d+$", key):
            vm_perm(["VM.Config.Disk"])
            if delete:
                continue
            volume = P.parse(str(value), "volume").get("volume", "")
            m = NEW_DISK_RE.match(volume)
            if m:
                require(access, authid, f"/storage/{m.group(1)}", ["Datastore.AllocateSpace"])
        elif key in MEMORY:
            vm_perm(["VM.Config.Memory"])
        elif re.match(r"^net\d+$", key):
            vm_perm(["VM.Config.Network"])
            for raw in (current.get(key), None if delete else value):
                bridge = _flags(raw).get("bridge")
                if bridge:
                    require(access, authid, f"/sdn/zones/localnetwork/{bridge}", ["SDN.Use"])
        elif re.match(r"^dev\d+$", key):
            raise PermissionDenied("configuring device passthrough is only allowed for root@pam")
        elif key in NETWORK:
            vm_perm(["VM.Config.Network"])
        elif key == "features":
            if not unprivileged:
                raise PermissionDenied("changing feature flags for privileged container is only allowed for root@pam")
            nesting, other = _feature_change(_flags(current.get(key)), None if delete else _flags(value))
            if other:
                raise PermissionDenied("changing feature flags (except nesting) is only allowed for root@pam")
            if nesting:
                vm_perm(["VM.Allocate"])
        elif key == "hookscript":
            raise PermissionDenied("changing the hookscript is only allowed for root@pam")
        else:  # tags (unprivileged tags) and every other option
            vm_perm(["VM.Config.Options"])
