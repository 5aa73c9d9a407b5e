"""Placement, drain and resize through the real engine on the simulated 3-node region ``pve-eu1``.

One tenant with three servers lands on three nodes, each decision recorded and shown by ``cloudctl status``;
draining one node migrates that server (same VM id, address, DNS name and Dokploy server) and a preview
then shows nothing to do; a plan upgrade whose node cannot take the growth migrates the VM, then resizes it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from ipam.placement import Decision
from ipam.store import open_store
from scripts import cloudctl
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine
POOL = "local/pve-eu1"
GIB = 2**30


def _declare(cloud: CloudUnderTest, slug: str, plan: str, servers: int) -> None:
    (cloud.tenants_dir / f"{slug}.yaml").write_text(
        f"slug: {slug}\ndisplay_name: {slug.title()} Ltd\nplan: {plan}\nregion: pve-eu1\n"
        f"dokploy_organization: org_{slug}\nowner: admin@{slug}.example\nservers: {servers}\n"
    )


def _cloudctl(capsys: pytest.CaptureFixture[str], cloud: CloudUnderTest, *args: str) -> tuple[int, str]:
    code = cloudctl.main(["--env", "local", "--tenants-dir", str(cloud.tenants_dir), *args])
    return code, capsys.readouterr().out


def _vm(cloud: CloudUnderTest, vmid: int) -> Any:
    return next(vm for vm in cloud.cloud.proxmox["pve-eu1"][0].backend.vms.values() if vm.vmid == vmid)


@pytest.fixture(scope="module")
def placed(local_cloud: CloudUnderTest) -> dict[str, Any]:
    _declare(local_cloud, "delta", "business", 3)
    local_cloud.cloud.add_tenant(local_cloud.cloud.dokploy[0], local_cloud.tenant("delta"))
    result = local_cloud.stacks.run(local_cloud.tenant("delta"), "up")
    assert result.ok, result.error
    return dict(result.outputs)


def test_a_tenants_servers_land_on_different_nodes_with_the_reason_recorded(
    local_cloud: CloudUnderTest, placed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(set(placed["nodes"])) == 3, placed["nodes"]
    reasons = [a.placement for a in open_store(os.environ["ALLOCATIONS_DB"]).all(POOL) if a.owner.startswith("delta/")]
    assert len(reasons) == 3 and sum("no server of delta here yet" in r for r in reasons) == 2, reasons
    code, out = _cloudctl(capsys, local_cloud, "status", "delta")
    assert code == 0 and "placement local" in out
    assert "no server of delta here yet" in " ".join(out.split()), out


def test_drain_migrates_a_server_keeping_its_id_address_name_and_dokploy_server(
    local_cloud: CloudUnderTest, placed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    node, vmid = placed["nodes"][0], placed["vmIds"][0]
    # A drain killed between recording a server's new node and its tenant's update left this behind:
    target = placed["nodes"][1]
    store = open_store(os.environ["ALLOCATIONS_DB"])
    store.relocate(POOL, "delta/0", lambda _: Decision(target, f"{target}: killed drain", ()), 8192, 4)
    assert _vm(local_cloud, vmid).node == node
    code, out = _cloudctl(
        capsys, local_cloud, "drain", node, "--region", "pve-eu1", "--yes", "--reason", "kernel update"
    )
    assert code == 0, out
    assert f"delta server 1 (VM {vmid}, {placed['addresses'][0]}): {node} -> {target}: moved" in out
    vm = _vm(local_cloud, vmid)
    assert vm.node != node and vm.status == "running"
    after = local_cloud.stacks.run(local_cloud.tenant("delta"), "up")
    assert after.ok and set(after.changes) <= {"same"}, after.changes
    assert after.outputs["vmIds"] == placed["vmIds"] and after.outputs["addresses"] == placed["addresses"]
    assert after.outputs["hostnames"] == placed["hostnames"]
    assert after.outputs["dokployServerIds"] == placed["dokployServerIds"]
    assert after.outputs["nodes"][0] == vm.node
    assert local_cloud.stacks.run(local_cloud.tenant("delta"), "preview").changes.keys() <= {"same"}
    code, out = _cloudctl(capsys, local_cloud, "status", "delta")
    assert "unschedulable: kernel update" in out
    code, out = _cloudctl(capsys, local_cloud, "audit", "--action", "migrate")
    assert code == 0 and "delta/0" in out
    code, out = _cloudctl(capsys, local_cloud, "undrain", node, "--region", "pve-eu1")
    assert code == 0 and "schedulable again" in out
    assert open_store(os.environ["ALLOCATIONS_DB"]).unschedulable(POOL) == {}


def test_an_upgrade_its_node_cannot_take_migrates_then_resizes(
    local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    _declare(local_cloud, "echo", "starter", 1)
    local_cloud.cloud.add_tenant(local_cloud.cloud.dokploy[0], local_cloud.tenant("echo"))
    first = local_cloud.stacks.run(local_cloud.tenant("echo"), "up")
    assert first.ok, first.error
    node, vmid, address = first.outputs["nodes"][0], first.outputs["vmIds"][0], first.outputs["addresses"][0]
    backend = local_cloud.cloud.proxmox["pve-eu1"][0].backend
    used = backend.node_entry(node)["mem"]
    backend.nodes[node].maxmem = used + 2 * GIB  # a small node: starter (4 GiB) -> business (8 GiB) cannot grow here
    _declare(local_cloud, "echo", "business", 1)
    upgraded = local_cloud.stacks.run(local_cloud.tenant("echo"), "up")
    assert upgraded.ok, upgraded.error
    vm = _vm(local_cloud, vmid)
    assert vm.node != node and upgraded.outputs["nodes"] == [vm.node]
    assert vm.memory_mib() == 8192 and vm.cores() == 4
    assert upgraded.outputs["addresses"] == [address] and upgraded.outputs["vmIds"] == [vmid]
    assert upgraded.outputs["dokployServerIds"] == first.outputs["dokployServerIds"]
    reason = open_store(os.environ["ALLOCATIONS_DB"]).get(POOL, "echo/0")
    assert reason is not None and reason.node == vm.node
    assert f"moved from {node}: the VM's node: " in Decision.summary_of(reason.placement)
    again = local_cloud.stacks.run(local_cloud.tenant("echo"), "preview")
    assert set(again.changes) <= {"same"}, again.changes
