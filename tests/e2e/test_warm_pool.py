"""The warm pool through the real engine: fill, claim by a new tenant, preview, destroy, and a claim killed mid-way.

Region ``pve-eu1`` keeps one ``starter`` VM warm, set up once in the platform's own Dokploy organization. A
starter tenant's ``up`` takes it: same VM id, address and node, the tenant's tags, name, firewall, key (in the
running guest) and Dokploy server; its setup finds Docker in place. Its next preview shows nothing to do and
its destroy leaves nothing behind. A ``cloudctl up`` SIGKILLed right after the claim converges on the next
run with the same VM, nothing cloned twice and nothing left over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from components.naming import WARM_TAG
from ipam.store import open_store
from provisioning.toolchain import PROJECT_DIR
from provisioning.warm_pool import READY, WarmPool
from tests.e2e.conftest import CloudUnderTest, running_cloud

pytestmark = pytest.mark.engine
POOL = "local/pve-eu1"


def _with_pool(env: dict[str, Any]) -> None:
    env["regions"]["pve-eu1"]["warm_pool"] = {"size": 1, "plan": "starter"}
    env["warm_pool_organization"] = "org_warm_pool"


@pytest.fixture(scope="module")
def warm_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudUnderTest]:
    yield from running_cloud(tmp_path_factory, _with_pool)


def _declare(cloud: CloudUnderTest, slug: str) -> None:
    (cloud.tenants_dir / f"{slug}.yaml").write_text(
        f"slug: {slug}\ndisplay_name: {slug.title()} Ltd\nplan: starter\nregion: pve-eu1\n"
        f"dokploy_organization: org_{slug}\nowner: admin@{slug}.example\n"
    )
    cloud.cloud.add_tenant(cloud.cloud.dokploy[0], cloud.tenant(slug))


def _backend(cloud: CloudUnderTest) -> Any:
    return cloud.cloud.proxmox["pve-eu1"][0].backend


def _fill(cloud: CloudUnderTest) -> int:
    [vmid] = WarmPool(cloud.stacks).fill("pve-eu1")
    return vmid


def test_a_filled_pool_holds_a_booted_vm_set_up_once_and_registered_nowhere(warm_cloud: CloudUnderTest) -> None:
    vmid = _fill(warm_cloud)
    vm = _backend(warm_cloud).vms[vmid]
    assert (
        vm.status == "running"
        and WARM_TAG in vm.config["tags"]
        and vm.pool == warm_cloud.stacks.environment.regions["pve-eu1"].pool
    )
    dokploy = warm_cloud.cloud.dokploy[0]
    assert (vm.node, vmid) in dokploy.installed, "Dokploy's setup ran on it"
    assert not [s for s in dokploy.servers.values() if s.organization_id == "org_warm_pool"], "and was removed"
    [warm] = WarmPool(warm_cloud.stacks).vms("pve-eu1")
    assert (warm.vmid, warm.state) == (vmid, "ready")
    assert WarmPool(warm_cloud.stacks).fill("pve-eu1") == [], "a full pool makes nothing"


def test_a_new_tenant_claims_the_warm_vm_and_owns_it_like_a_cloned_one(warm_cloud: CloudUnderTest) -> None:
    [warm] = WarmPool(warm_cloud.stacks).vms("pve-eu1")
    _declare(warm_cloud, "wanda")
    dokploy = warm_cloud.cloud.dokploy[0]
    dokploy.setup_seconds, dokploy.prepared_setup_seconds = 30.0, 0.0  # a cold setup would time the test out
    started = time.monotonic()
    result = warm_cloud.stacks.run(warm_cloud.tenant("wanda"), "up")
    assert result.ok, result.error
    assert time.monotonic() - started < 30, "setup found the host prepared"
    assert result.outputs["vmIds"] == [warm.vmid] and result.outputs["addresses"] == [warm.address]
    vm = _backend(warm_cloud).vms[warm.vmid]
    assert "tenant-wanda" in vm.config["tags"] and WARM_TAG not in vm.config["tags"]
    guest = next(g for g in _backend(warm_cloud).world_guests() if g["vmid"] == warm.vmid)
    state = warm_cloud.stacks.stack(warm_cloud.tenant("wanda")).export_stack().deployment
    public = next(r["outputs"]["public_key"] for r in state["resources"] if r["type"].endswith("ssh:KeyPair"))
    assert [k.split()[:2] for k in guest["ssh_keys"]] == [public.split()[:2]], "only the tenant's key is authorised"
    assert [r["comment"] for r in vm.firewall["rules"]] == ["allow SSH", "allow HTTP", "allow HTTPS"]
    assert WarmPool(warm_cloud.stacks).vms("pve-eu1") == []
    preview = warm_cloud.stacks.run(warm_cloud.tenant("wanda"), "preview")
    assert preview.ok and set(preview.changes) <= {"same"}, preview.changes
    destroyed = warm_cloud.stacks.run(warm_cloud.tenant("wanda"), "destroy")
    assert destroyed.ok, destroyed.error
    assert warm.vmid not in _backend(warm_cloud).vms
    assert [a for a in open_store(os.environ["ALLOCATIONS_DB"]).all(POOL) if a.owner.startswith("wanda/")] == []
    assert not [s for s in dokploy.servers.values() if s.organization_id == "org_wanda"]


def test_a_claim_killed_mid_run_converges_without_losing_or_doubling_the_vm(
    warm_cloud: CloudUnderTest, tmp_path: Any
) -> None:
    vmid = _fill(warm_cloud)
    _declare(warm_cloud, "kilo")
    before = set(_backend(warm_cloud).vms)
    store = open_store(os.environ["ALLOCATIONS_DB"])
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    cli = [sys.executable, "-m", "scripts.cloudctl", "--env", "local", "--tenants-dir", str(warm_cloud.tenants_dir)]
    run = subprocess.Popen(
        [*cli, "up", "kilo"],
        cwd=PROJECT_DIR,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while (store.get(POOL, "kilo/0") is None) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before it claimed"
            time.sleep(0.02)
        os.killpg(run.pid, signal.SIGKILL)  # right after the claim: the VM is the tenant's, the stack knows nothing
    finally:
        run.wait(timeout=30)
    held = store.get(POOL, "kilo/0")
    assert held is not None and held.vmid == vmid, "claimed exactly once, by the tenant"
    assert not [a for a in store.all(POOL) if a.owner.startswith(READY)], "and no longer the pool's"
    again = warm_cloud.stacks.run(warm_cloud.tenant("kilo"), "up")
    assert again.ok, again.error
    assert again.outputs["vmIds"] == [vmid]
    assert set(_backend(warm_cloud).vms) == before, "no VM cloned, none lost"
    assert "tenant-kilo" in _backend(warm_cloud).vms[vmid].config["tags"]
    destroyed = warm_cloud.stacks.run(warm_cloud.tenant("kilo"), "destroy")
    assert destroyed.ok, destroyed.error
    assert vmid not in _backend(warm_cloud).vms


def test_a_cold_signup_that_finds_no_room_gets_a_warm_vms_room(warm_cloud: CloudUnderTest) -> None:
    warm = _fill(warm_cloud)
    backend = _backend(warm_cloud)
    saved = {name: node.maxmem for name, node in backend.nodes.items()}
    try:  # every node 6 GiB short of full: a business VM (8 GiB) fits only where the 4 GiB warm VM was
        for name, node in backend.nodes.items():
            node.maxmem = backend.node_entry(name)["mem"] + 6 * 2**30
        warm_node = backend.vms[warm].node
        (warm_cloud.tenants_dir / "yara.yaml").write_text(
            "slug: yara\ndisplay_name: Yara Ltd\nplan: business\nregion: pve-eu1\n"
            "dokploy_organization: org_yara\nowner: admin@yara.example\n"
        )
        warm_cloud.cloud.add_tenant(warm_cloud.cloud.dokploy[0], warm_cloud.tenant("yara"))
        result = warm_cloud.stacks.run(warm_cloud.tenant("yara"), "up")
        assert result.ok, result.error
        assert not [v for v in backend.vms.values() if WARM_TAG in str(v.config.get("tags"))], "it gave its room"
        assert result.outputs["nodes"] == [warm_node]
        assert "tenant-yara" in backend.vms[result.outputs["vmIds"][0]].config["tags"]
        assert WarmPool(warm_cloud.stacks).vms("pve-eu1") == []
    finally:
        for name, maxmem in saved.items():
            backend.nodes[name].maxmem = maxmem
    assert warm_cloud.stacks.run(warm_cloud.tenant("yara"), "destroy").ok
