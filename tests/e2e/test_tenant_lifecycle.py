"""Tenants as code end to end: real engine, real proxmoxve plugin, simulators and a real PowerDNS.

The steps run in order on one local cloud (module fixture): three tenants up; what each service
holds; a plan change in place; drift detected by refresh and repaired by up; one tenant destroyed
without touching the others.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import dns.resolver
import pytest
import requests

from sim.proxmox.coverage import product_calls
from sim.proxmox.urls import ROUTES
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine
TENANTS = ("alpha", "bravo", "charlie")
_outputs: dict[str, dict[str, Any]] = {}


def _vm(cloud: CloudUnderTest, region: str, vmid: int) -> Any:
    return cloud.cloud.proxmox[region][0].backend.vms.get(vmid)


def _resolve(cloud: CloudUnderTest, hostname: str) -> list[str]:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    assert cloud.cloud.pdns is not None
    resolver.port = cloud.cloud.pdns.dns_port
    try:
        return sorted(r.address for r in resolver.resolve(hostname, "A", lifetime=5))
    except dns.resolver.NXDOMAIN:
        return []


def _dokploy_servers(cloud: CloudUnderTest, org: str) -> list[Any]:
    assert cloud.cloud.dokploy is not None
    return [s for s in cloud.cloud.dokploy[0].servers.values() if s.organization_id == org]


def test_step0_preview_of_a_new_tenant_lists_what_it_will_create(local_cloud: CloudUnderTest) -> None:
    result = local_cloud.stacks.run(local_cloud.tenant("alpha"), "preview")
    assert result.ok, result.error
    assert result.changes.get("create", 0) >= 10, result.changes
    assert local_cloud.cloud.proxmox["pve-eu1"][0].backend.world_guests() == []


def test_step1_three_tenants_come_up(local_cloud: CloudUnderTest) -> None:
    for slug in TENANTS:
        result = local_cloud.stacks.run(local_cloud.tenant(slug), "up")
        assert result.ok, result.error
        _outputs[slug] = result.outputs
    assert [len(_outputs[s]["vmIds"]) for s in TENANTS] == [1, 2, 1]
    all_ids = [vmid for s in TENANTS for vmid in _outputs[s]["vmIds"]]
    all_addresses = [a for s in TENANTS for a in _outputs[s]["addresses"]]
    assert len(set(all_ids)) == len(all_ids) and len(set(all_addresses)) == len(all_addresses)


def test_step2_vms_have_plan_resources_keys_and_tags(local_cloud: CloudUnderTest) -> None:
    plans = local_cloud.stacks.environment.plans
    for slug, region, plan in (
        ("alpha", "pve-eu1", "starter"),
        ("bravo", "pve-eu1", "business"),
        ("charlie", "pve-us1", "starter"),
    ):
        for vmid, address in zip(_outputs[slug]["vmIds"], _outputs[slug]["addresses"], strict=True):
            vm = _vm(local_cloud, region, vmid)
            assert vm is not None and vm.status == "running"
            config = vm.config
            assert int(config["cores"]) == plans[plan].cores
            assert int(config["memory"]) == plans[plan].memory_mb
            assert f"size={plans[plan].disk_gb}G" in config["scsi0"]
            assert set(str(config["tags"]).split(";")) >= {f"tenant-{slug}", f"plan-{plan}"}
            assert config["ciuser"] == "dokploy"
            assert f"ip={address}/" in config["ipconfig0"]
            keys = urllib.parse.unquote(config["sshkeys"])
            assert keys.count("ssh-ed25519 ") >= 1
    alpha_vm = _vm(local_cloud, "pve-eu1", _outputs["alpha"]["vmIds"][0])
    assert "ops@alpha.example" in urllib.parse.unquote(alpha_vm.config["sshkeys"])


def test_step3_hostnames_resolve_and_dokploy_servers_are_set_up(local_cloud: CloudUnderTest) -> None:
    for slug, org in (("alpha", "org_alpha"), ("bravo", "org_bravo"), ("charlie", "org_charlie")):
        for hostname, address in zip(_outputs[slug]["hostnames"], _outputs[slug]["addresses"], strict=True):
            assert _resolve(local_cloud, hostname) == [address]
        servers = _dokploy_servers(local_cloud, org)
        assert sorted(s.ip_address for s in servers) == sorted(_outputs[slug]["addresses"])
        assert sorted(s.server_id for s in servers) == sorted(_outputs[slug]["dokployServerIds"])
    assert _outputs["charlie"]["hostnames"] == ["charlie-apps.cloud.test"]
    assert _outputs["bravo"]["hostnames"] == ["bravo.cloud.test", "2.bravo.cloud.test"]  # per-tenant subdomain


def test_step4_second_up_changes_nothing(local_cloud: CloudUnderTest) -> None:
    result = local_cloud.stacks.run(local_cloud.tenant("alpha"), "preview")
    assert result.ok, result.error
    assert set(result.changes) <= {"same"}, result.changes


def test_step5_plan_change_updates_vm_in_place(local_cloud: CloudUnderTest) -> None:
    spec = local_cloud.tenants_dir / "alpha.yaml"
    spec.write_text(spec.read_text().replace("plan: starter", "plan: business"))
    result = local_cloud.stacks.run(local_cloud.tenant("alpha"), "up")
    assert result.ok, result.error
    assert "replace" not in result.changes and result.changes.get("update", 0) >= 1, result.changes
    assert result.outputs["vmIds"] == _outputs["alpha"]["vmIds"]
    assert result.outputs["addresses"] == _outputs["alpha"]["addresses"]
    vm = _vm(local_cloud, "pve-eu1", result.outputs["vmIds"][0])
    assert int(vm.config["cores"]) == 4 and int(vm.config["memory"]) == 8192


def test_step5b_new_authorized_key_changes_cloud_init_in_place(local_cloud: CloudUnderTest) -> None:
    new_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOOzvIGr8BmAE28vBLQRDGzRQUzKynR6bcwkWqVXSOTV oncall@alpha.example"
    spec = local_cloud.tenants_dir / "alpha.yaml"
    spec.write_text(spec.read_text() + f"  - {new_key}\n")
    result = local_cloud.stacks.run(local_cloud.tenant("alpha"), "up")
    assert result.ok, result.error
    assert "replace" not in result.changes and result.outputs["vmIds"] == _outputs["alpha"]["vmIds"]
    vm = _vm(local_cloud, "pve-eu1", result.outputs["vmIds"][0])
    assert "oncall@alpha.example" in urllib.parse.unquote(vm.config["sshkeys"])


def test_step6_refresh_detects_drift_and_up_repairs_it(local_cloud: CloudUnderTest) -> None:
    vmid, hostname = _outputs["charlie"]["vmIds"][0], _outputs["charlie"]["hostnames"][0]
    prox = local_cloud.cloud.proxmox["pve-us1"][0].backend
    prox.vms[vmid].status = "stopped"
    assert local_cloud.cloud.pdns is not None
    requests.patch(
        f"{local_cloud.cloud.pdns.url}/api/v1/servers/localhost/zones/cloud.test.",
        json={"rrsets": [{"name": f"{hostname}.", "type": "A", "changetype": "DELETE"}]},
        headers={"X-API-Key": local_cloud.cloud.pdns.api_key},
        timeout=10,
    ).raise_for_status()
    backend = local_cloud.cloud.dokploy[0] if local_cloud.cloud.dokploy else None
    assert backend is not None
    for server in _dokploy_servers(local_cloud, "org_charlie"):
        del backend.servers[server.server_id]
    assert _resolve(local_cloud, hostname) == []

    refresh = local_cloud.stacks.run(local_cloud.tenant("charlie"), "refresh")
    assert refresh.ok, refresh.error
    assert refresh.changes.get("update", 0) + refresh.changes.get("delete", 0) >= 2, refresh.changes

    repaired = local_cloud.stacks.run(local_cloud.tenant("charlie"), "up")
    assert repaired.ok, repaired.error
    assert _resolve(local_cloud, hostname) == _outputs["charlie"]["addresses"]
    assert prox.vms[vmid].status == "running"
    assert len(_dokploy_servers(local_cloud, "org_charlie")) == 1


def test_step7_destroy_removes_one_tenant_only(local_cloud: CloudUnderTest) -> None:
    bravo_ids, bravo_hosts = _outputs["bravo"]["vmIds"], _outputs["bravo"]["hostnames"]
    result = local_cloud.stacks.run(local_cloud.tenant("bravo"), "destroy")
    assert result.ok, result.error
    for vmid in bravo_ids:
        assert _vm(local_cloud, "pve-eu1", vmid) is None
    assert all(_resolve(local_cloud, h) == [] for h in bravo_hosts)
    assert _dokploy_servers(local_cloud, "org_bravo") == []
    assert local_cloud.cloud.dokploy is not None
    assert not [k for k in local_cloud.cloud.dokploy[0].ssh_keys.values() if k.organization_id == "org_bravo"]
    # the others are untouched
    assert _vm(local_cloud, "pve-eu1", _outputs["alpha"]["vmIds"][0]) is not None
    assert _resolve(local_cloud, _outputs["alpha"]["hostnames"][0]) == _outputs["alpha"]["addresses"]
    assert len(_dokploy_servers(local_cloud, "org_alpha")) == 1


def test_step8_every_proxmox_call_of_the_lifecycle_is_implemented_and_listed(local_cloud: CloudUnderTest) -> None:
    called = {key for sim, _server in local_cloud.cloud.proxmox.values() for key in sim.served}
    assert called, "the lifecycle made no Proxmox call the simulator recorded"
    unimplemented = sorted(key for key in called if key not in ROUTES)
    assert unimplemented == [], f"the lifecycle called methods the simulator does not implement: {unimplemented}"
    unlisted = sorted(called - product_calls())
    assert unlisted == [], f"add these to sim/proxmox/product_calls.json, then regenerate COVERAGE.md: {unlisted}"
