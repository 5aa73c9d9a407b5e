"""The one phase vocabulary: engine events -> phases, the current phase, and the phases a worker records."""

from __future__ import annotations

import time

from pulumi import automation as auto

from provisioning.phases import NO_PHASE, PHASE_ORDER, PhaseTracker, phase_of

TYPES = {
    "sshkey": "pulumi-python:dynamic/ssh:KeyPair",
    "allocate": "pulumi-python:dynamic/ipam:Allocation",
    "vm": "proxmoxve:index/vmLegacy:VmLegacy",
    "firewall": "proxmoxve:firewall/rulesLegacy:RulesLegacy",
    "dns": "pulumi-python:dynamic/dns:Record",
    "dokploy": "pulumi-python:dynamic/dokploy:Server",
    "stack": "pulumi:pulumi:Stack",
    "provider": "pulumi:providers:proxmoxve",
}


def event(kind: str, name: str, op: str = "create") -> auto.EngineEvent:
    urn = f"urn:pulumi:local.acme::dokploy-cloud::{TYPES[name]}::acme-{name}"
    return auto.EngineEvent.from_json(
        {"sequence": 0, "timestamp": int(time.time()), kind: {"metadata": {"op": op, "urn": urn, "type": TYPES[name]}}}
    )


def start(name: str) -> auto.EngineEvent:
    return event("resourcePreEvent", name)


def end(name: str) -> auto.EngineEvent:
    return event("resOutputsEvent", name)


def test_every_resource_type_of_the_program_has_a_phase() -> None:
    assert [phase_of(TYPES[p]) for p in ("sshkey", "allocate", "vm", "firewall", "dns", "dokploy")] == [
        "sshkey",
        "allocate",
        "vm",
        "firewall",
        "dns",
        "dokploy",
    ]
    assert phase_of("proxmoxve:index/poolLegacy:PoolLegacy") == "pool"
    assert phase_of(TYPES["stack"]) == phase_of(TYPES["provider"]) == "other"
    assert set(PHASE_ORDER) >= {"sshkey", "allocate", "pool", "vm", "firewall", "dns", "dokploy"}


def test_overlapping_steps_credit_the_latest_phase_and_report_each_change_once() -> None:
    recorded: list[str] = []
    tracker = PhaseTracker(on_phase=recorded.append)
    assert tracker.current == NO_PHASE
    for step in (
        start("stack"),
        start("provider"),
        end("provider"),  # bookkeeping is no phase
        start("allocate"),
        start("sshkey"),
        end("sshkey"),
        end("allocate"),
        start("vm"),
        start("dns"),
        end("dns"),  # DNS beside the VM
        end("vm"),
        start("firewall"),
        start("dokploy"),
        end("firewall"),  # firewall beside Dokploy
        end("dokploy"),
        end("stack"),
    ):
        tracker(step)
    assert recorded == ["allocate", "vm", "dns", "vm", "firewall", "dokploy"]
    assert tracker.current == "dokploy"
    assert set(tracker.durations()) == {"sshkey", "allocate", "vm", "firewall", "dns", "dokploy"}


def test_between_steps_the_phase_stays_where_the_last_step_ended() -> None:
    recorded: list[str] = []
    tracker = PhaseTracker(on_phase=recorded.append)
    for step in (start("allocate"), end("allocate"), start("sshkey"), end("sshkey"), start("vm")):
        tracker(step)
        assert tracker.current == recorded[-1]
    assert recorded == ["allocate", "sshkey", "vm"]


def test_unchanged_resources_start_no_phase() -> None:
    tracker = PhaseTracker()
    tracker(event("resourcePreEvent", "vm", op="same"))
    assert tracker.current == NO_PHASE and tracker.started == {}
