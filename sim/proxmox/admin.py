"""Admin API under the reserved prefix /_sim/ (not under /api2): reset, seed, faults, speed,
state dump and the shared guest world. No secrets are ever returned here."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from .core import SimClock
from .seed import seed_cluster

if TYPE_CHECKING:
    from .app import Simulator


def admin(sim: Simulator, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """(status, JSON payload) for an admin request."""
    try:
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise ValueError("body: expected a JSON object")
        handler = ROUTES.get((method, path.rstrip("/")))
        if handler is None:
            return 404, {"error": f"no admin route {method} {path}"}
        return 200, handler(sim, data)
    except (ValueError, KeyError, TypeError) as exc:
        return 400, {"error": str(exc)}


def _guests(sim: Simulator, data: dict[str, Any]) -> Any:
    return {"guests": sim.backend.world_guests()}


def _reset(sim: Simulator, data: dict[str, Any]) -> Any:
    b = sim.backend
    b.reset(int(data.get("seed", 0)))
    nodes = int(data.get("nodes", 3))
    if nodes:
        with b.lock:
            seed_cluster(b, nodes)
    sim.faults.set_rules([])
    return {"nodes": sorted(b.nodes)}


def _speed(sim: Simulator, data: dict[str, Any]) -> Any:
    d = sim.backend.settings.durations
    d.set_speed(data["speed"])
    for key, value in data.get("durations", {}).items():
        d.table[key] = float(value)
    if "agent_boot" in data:
        d.table["agent_boot"] = float(data["agent_boot"])
    return d.describe()


def _settings(sim: Simulator, data: dict[str, Any]) -> Any:
    s = sim.backend.settings
    for key in ("clone", "default"):
        if key in data.get("lock_wait", {}):
            s.lock_wait[key] = float(data["lock_wait"][key])
    if "auth_fail_delay" in data:
        s.auth_fail_delay = float(data["auth_fail_delay"])
    return {"lock_wait": s.lock_wait, "auth_fail_delay": s.auth_fail_delay}


def _faults(sim: Simulator, data: dict[str, Any]) -> Any:
    """rules, seed, failing_tasks {type: message}, offline_nodes [..], stuck_locks [{vmid, lock? | seconds?}]."""
    b = sim.backend
    sim.faults.set_rules(list(data.get("rules", [])), data.get("seed"))
    with b.lock:
        b.faults_failing_tasks = {str(k): str(v) for k, v in data.get("failing_tasks", {}).items()}
        offline = set(data.get("offline_nodes", []))
        unknown = offline - set(b.nodes)
        if unknown:
            raise ValueError(f"offline_nodes: unknown node(s) {sorted(unknown)}")
        for node in b.nodes.values():
            node.online = node.name not in offline
        for item in data.get("stuck_locks", []):
            vmid = int(item["vmid"])
            if vmid not in b.vms:
                raise ValueError(f"stuck_locks: no VM {vmid}")
            if item.get("lock"):
                b.vms[vmid].config["lock"] = str(item["lock"])
            elif item.get("seconds") is not None:  # a busy node: another task holds the file lock a while
                b.file_locks[vmid] = b.clock() + float(item["seconds"])
            else:
                b.file_locks[vmid] = math.inf
    return _faults_get(sim, {})


def _faults_get(sim: Simulator, data: dict[str, Any]) -> Any:
    b = sim.backend
    return {
        "rules": [r.to_json() for r in sim.faults.rules],
        "failing_tasks": b.faults_failing_tasks,
        "offline_nodes": sorted(n.name for n in b.nodes.values() if not n.online),
        "file_locks": sorted(v for v, t in b.file_locks.items() if t == math.inf),
    }


def _faults_clear(sim: Simulator, data: dict[str, Any]) -> Any:
    b = sim.backend
    sim.faults.set_rules([])
    with b.lock:
        b.faults_failing_tasks = {}
        for node in b.nodes.values():
            node.online = True
        b.file_locks = {k: v for k, v in b.file_locks.items() if v != math.inf}
    return _faults_get(sim, {})


def _seed(sim: Simulator, data: dict[str, Any]) -> Any:
    """Add users, tokens, roles and ACLs: {"users": [...], "tokens": [...], "roles": {...}, "acl": [...]}."""
    acc = sim.backend.access
    with sim.backend.lock:
        for name, privs in data.get("roles", {}).items():
            acc.roles[name] = set(privs)
        for u in data.get("users", []):
            acc.add_user(u["userid"], u.get("password"), u.get("groups"))
        for t in data.get("tokens", []):
            acc.add_token(t["userid"], t["tokenid"], t["secret"], bool(t.get("privsep", True)))
        for a in data.get("acl", []):
            acc.add_acl(
                a["path"],
                a["role"],
                user=a.get("user"),
                group=a.get("group"),
                token=a.get("token"),
                propagate=bool(a.get("propagate", True)),
            )
    return {"users": sorted(acc.users), "tokens": sorted(acc.tokens)}


def _clock(sim: Simulator, data: dict[str, Any]) -> Any:
    """{"advance": seconds} moves the simulated clock forward (tasks end, backup jobs fire); returns the time."""
    clock = sim.backend.clock
    if "advance" in data:
        if not isinstance(clock, SimClock):
            raise ValueError("advance: this simulator runs on a fixed clock")
        with sim.backend.lock:
            clock.advance(float(data["advance"]))
            sim.backend.tick()
    return {"now": clock(), "offset": clock.offset if isinstance(clock, SimClock) else 0.0}


def _state(sim: Simulator, data: dict[str, Any]) -> Any:
    state = sim.backend.to_json()
    state.pop("access", None)  # secrets and hashes stay out of dumps
    return state


ROUTES = {
    ("GET", "/_sim/world/guests"): _guests,
    ("POST", "/_sim/reset"): _reset,
    ("POST", "/_sim/speed"): _speed,
    ("POST", "/_sim/settings"): _settings,
    ("GET", "/_sim/faults"): _faults_get,
    ("POST", "/_sim/faults"): _faults,
    ("DELETE", "/_sim/faults"): _faults_clear,
    ("POST", "/_sim/seed"): _seed,
    ("GET", "/_sim/state"): _state,
    ("GET", "/_sim/clock"): _clock,
    ("POST", "/_sim/clock"): _clock,
}
