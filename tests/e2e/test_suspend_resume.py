"""Suspend and resume a tenant through the real engine (issue 7).

``state: suspended`` in the tenant file stops the VM in Proxmox (not deleted: same vmid, address and
disk), keeps the DNS record and leaves the Dokploy registration untouched; removing it again starts
the same VM. Runs on its own local cloud (module fixture from tests/e2e/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.e2e.conftest import CloudUnderTest
from tests.e2e.test_tenant_lifecycle import _dokploy_servers, _resolve, _vm

pytestmark = pytest.mark.engine
SLUG, REGION, ORG = "alpha", "pve-eu1", "org_alpha"


def _set_state(cloud: CloudUnderTest, state: str | None) -> None:
    path = cloud.tenants_dir / f"{SLUG}.yaml"
    data = yaml.safe_load(path.read_text())
    data.pop("state", None)
    if state is not None:
        data["state"] = state
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _up(cloud: CloudUnderTest) -> dict[str, Any]:
    result = cloud.stacks.run(cloud.tenant(SLUG), "up")
    assert result.ok, result.error
    return result.outputs


def test_suspend_stops_the_vm_and_resume_starts_the_same_one(local_cloud: CloudUnderTest) -> None:
    active = _up(local_cloud)
    vmid, address, hostname = active["vmIds"][0], active["addresses"][0], active["hostnames"][0]
    assert active["state"] == "active" and _vm(local_cloud, REGION, vmid).status == "running"
    [server_before] = _dokploy_servers(local_cloud, ORG)

    _set_state(local_cloud, "suspended")
    suspended = _up(local_cloud)
    vm = _vm(local_cloud, REGION, vmid)
    assert suspended["state"] == "suspended" and suspended["vmIds"] == [vmid]
    assert vm is not None and vm.status == "stopped"
    assert _resolve(local_cloud, hostname) == [address]
    [server] = _dokploy_servers(local_cloud, ORG)
    assert (server.server_id, server.ip_address) == (server_before.server_id, address)

    _set_state(local_cloud, None)
    resumed = _up(local_cloud)
    assert resumed["state"] == "active"
    assert (resumed["vmIds"], resumed["addresses"]) == ([vmid], [address])
    assert _vm(local_cloud, REGION, vmid).status == "running"
    assert _resolve(local_cloud, hostname) == [address]
    assert [s.server_id for s in _dokploy_servers(local_cloud, ORG)] == [server_before.server_id]


def test_a_tenant_suspended_before_its_first_setup_is_set_up_on_resume(local_cloud: CloudUnderTest) -> None:
    """Found by the fault soak: a payment failed while the signup was still being retried, so the next attempt
    applied ``state: suspended`` and tried to set Dokploy up on the VM it had just stopped, until the job failed
    for good. Now the server is registered without setup while suspended, and set up by the resume."""
    slug, org = "late", "org_late"
    path = local_cloud.tenants_dir / f"{slug}.yaml"
    path.write_text(
        f"slug: {slug}\ndisplay_name: Late Ltd\nplan: starter\nregion: {REGION}\nstate: suspended\n"
        f"dokploy_organization: {org}\nowner: admin@{slug}.example\n"
    )
    assert local_cloud.cloud.dokploy is not None
    dokploy = local_cloud.cloud.dokploy[0]
    local_cloud.cloud.add_tenant(dokploy, local_cloud.tenant(slug))
    try:
        suspended = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert suspended.ok, suspended.error
        vmid = suspended.outputs["vmIds"][0]
        assert _vm(local_cloud, REGION, vmid).status == "stopped"
        [server] = _dokploy_servers(local_cloud, org)
        assert (_vm(local_cloud, REGION, vmid).node, vmid) not in dokploy.installed, "no setup on a stopped VM"

        path.write_text(path.read_text().replace("state: suspended\n", ""))
        resumed = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert resumed.ok, resumed.error
        assert _vm(local_cloud, REGION, vmid).status == "running"
        assert [s.server_id for s in _dokploy_servers(local_cloud, org)] == [server.server_id]
        assert (_vm(local_cloud, REGION, vmid).node, vmid) in dokploy.installed, "set up by the resume"
    finally:
        assert local_cloud.stacks.run(local_cloud.tenant(slug), "destroy").ok
        path.unlink()
