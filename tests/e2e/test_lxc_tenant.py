"""An lxc-plan tenant through the real engine: signup (up) → ready → suspend → resume → decommission.

Same checks as a VM tenant: the container is created (not cloned) from the region's image, unprivileged with
``nesting``, in the region's pool with the tenant's tags, firewall on with the IP filter set, started;
Dokploy set it up as ``root`` with the tenant's key (the simulator's SSH checks read the container's keys);
the DNS record resolves; suspended it is stopped and not started on boot; resumed it runs again in place;
decommissioned, everything is gone. Runs with the least-privilege token of tests/e2e/conftest.py.
"""

from __future__ import annotations

import os

import pytest

from ipam.store import open_store
from scripts import cloudctl
from sim.proxmox.coverage import product_calls
from sim.proxmox.urls import ROUTES
from tests.e2e.conftest import CloudUnderTest
from tests.e2e.test_tenant_lifecycle import _dokploy_servers, _resolve, _vm

pytestmark = pytest.mark.engine
SLUG, REGION, ORG = "crate", "pve-eu1", "org_crate"
IMAGE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"


def test_lxc_tenant_lifecycle(local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    path = local_cloud.tenants_dir / f"{SLUG}.yaml"
    path.write_text(
        f"slug: {SLUG}\ndisplay_name: Crate Ltd\nplan: container\nregion: {REGION}\n"
        f"dokploy_organization: {ORG}\nowner: admin@crate.example\n"
    )
    assert local_cloud.cloud.dokploy is not None
    dokploy = local_cloud.cloud.dokploy[0]
    local_cloud.cloud.add_tenant(dokploy, local_cloud.tenant(SLUG))
    backend = local_cloud.cloud.proxmox[REGION][0].backend
    try:
        up = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
        assert up.ok, up.error
        vmid, address, hostname = up.outputs["vmIds"][0], up.outputs["addresses"][0], up.outputs["hostnames"][0]
        ct = _vm(local_cloud, REGION, vmid)
        assert ct.kind == "lxc" and ct.status == "running"
        assert ct.config.get("unprivileged") == 1 and "nesting=1" in str(ct.config.get("features"))
        assert "keyctl" not in str(ct.config.get("features"))
        assert ct.config.get("onboot") == 1 and ct.config["cores"] == 2 and ct.config["memory"] == 2048
        assert ct.pool == "dokploy-local" and SLUG in str(ct.config.get("tags"))
        assert f"ip={address}/" in str(ct.config.get("net0")) and "firewall=1" in str(ct.config.get("net0"))
        assert ct.firewall["options"].get("enable") in (1, "1", True)
        assert {r.get("dport") for r in ct.firewall["rules"]} == {"22", "80", "443"}
        assert [e["cidr"].split("/")[0] for e in ct.firewall["ipsets"]["ipfilter-net0"]["entries"]] == [address]
        assert _resolve(local_cloud, hostname) == [address]
        [server] = _dokploy_servers(local_cloud, ORG)
        assert (server.ip_address, server.username) == (address, "root")
        assert (ct.node, vmid) in dokploy.installed, "Dokploy set the container up over SSH with the tenant key"

        # A drain refuses the container (bpg would replace it: no live migration) and leaves it running where it is.
        args = ["--env", "local", "--tenants-dir", str(local_cloud.tenants_dir)]
        code = cloudctl.main([*args, "drain", ct.node, "--region", REGION, "--yes", "--reason", "kernel update"])
        out = capsys.readouterr().out
        assert code != 0 and "refused" in out and "lxc plan 'container'" in out, out
        assert _vm(local_cloud, REGION, vmid).node == ct.node and _vm(local_cloud, REGION, vmid).status == "running"
        assert cloudctl.main([*args, "undrain", ct.node, "--region", REGION]) == 0

        path.write_text(path.read_text() + "state: suspended\n")
        suspended = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
        assert suspended.ok, suspended.error
        ct = _vm(local_cloud, REGION, vmid)
        assert ct.status == "stopped" and ct.config.get("onboot") in (0, None)
        assert _resolve(local_cloud, hostname) == [address]

        path.write_text(path.read_text().replace("state: suspended\n", ""))
        resumed = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
        assert resumed.ok, resumed.error
        assert (resumed.outputs["vmIds"], resumed.outputs["addresses"]) == ([vmid], [address])
        assert _vm(local_cloud, REGION, vmid).status == "running"
        assert [s.server_id for s in _dokploy_servers(local_cloud, ORG)] == [server.server_id]

        destroyed = local_cloud.stacks.run(local_cloud.tenant(SLUG), "destroy")
        assert destroyed.ok, destroyed.error
        assert vmid not in backend.vms
        [archive] = destroyed.outputs["archives"]
        assert archive["vmid"] == vmid and "vzdump-lxc-" in archive["volid"], "archived as a container first"
        store = open_store(os.environ["ALLOCATIONS_DB"])
        assert not [a for a in store.all("local/pve-eu1") if a.owner.startswith(f"{SLUG}/")], "allocation released"
        assert _dokploy_servers(local_cloud, ORG) == [] and _resolve(local_cloud, hostname) == []
    finally:
        path.unlink()
    called = {key for sim, _server in local_cloud.cloud.proxmox.values() for key in sim.served}
    assert sorted(key for key in called if key not in ROUTES) == [], "every call is implemented by the simulator"
    unlisted = sorted(called - product_calls())
    assert unlisted == [], f"add these to sim/proxmox/product_calls.json, then regenerate COVERAGE.md: {unlisted}"
