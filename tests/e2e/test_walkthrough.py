"""The manual walkthrough (scripts/walkthrough.py) against the local cloud, with the least-privilege token and an
organisation key: every step runs, Dokploy sets the hand-made server up, and everything is taken back."""

from __future__ import annotations

import pytest

from scripts.walkthrough import SLUG, leftovers, run, table
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine
REGION, ORG = "pve-eu1", "org_alpha"
STEPS = [
    "allocate id and address",
    "clone VM from the node's template",
    "write cloud-init user, key, address",
    "firewall and IP filter",
    "start VM",
    "guest agent reports the address",
    "DNS record",
    "Dokploy: SSH key and server",
    "Dokploy: setup and validate",
]


def test_the_walkthrough_makes_a_working_server_and_takes_it_back(local_cloud: CloudUnderTest) -> None:
    assert local_cloud.cloud.dokploy is not None
    dokploy = local_cloud.cloud.dokploy[0]
    backend = local_cloud.cloud.proxmox[REGION][0].backend
    seen: list[str] = []
    walk = run(local_cloud.stacks, REGION, ORG, lambda step: seen.append(step.name))

    assert [s.name for s in walk.steps] == STEPS == seen
    allocation = walk.made["allocation"]
    assert (allocation.node, allocation.vmid) in dokploy.installed, "Dokploy set the hand-made server up over SSH"
    assert walk.time_to_live > 0 and all(s.seconds >= 0 for s in walk.steps)
    assert [s.name for s in walk.cleanup] == [
        "remove Dokploy server",
        "remove Dokploy SSH key",
        "delete DNS record",
        "stop and delete VM",
        "release id and address",
    ]
    assert allocation.vmid not in backend.vms
    servers = [{"serverId": s.server_id} for s in dokploy.servers.values()]
    assert leftovers(local_cloud.stacks, REGION, walk, servers) == []
    assert walk.made["server"] not in dokploy.servers and walk.made["ssh_key"] not in dokploy.ssh_keys
    assert not [k for k in dokploy.ssh_keys.values() if k.name == SLUG]
    rendered = table(walk, "walkthrough")
    assert rendered.row_count == len(STEPS) + 1 + len(walk.cleanup)
