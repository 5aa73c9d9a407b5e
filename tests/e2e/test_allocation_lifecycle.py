"""Allocations through the real engine, in a real ``<env>/<region>`` pool (``local/pve-eu1``).

One tenant with two servers: refresh keeps both allocations in state; the orphan sweep frees leaked
rows only (its dry run changes nothing); scale-down to one server frees the second server's VM id
and address; destroy frees the rest.
"""

from __future__ import annotations

import os

import pytest

from ipam.store import PoolSpec, open_store
from provisioning.allocations import recorded_allocations
from scripts import cloudctl
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine
POOL = "local/pve-eu1"


def _rows(slug: str) -> dict[str, tuple[int, str]]:
    return {
        a.owner: (a.vmid, a.address)
        for a in open_store(os.environ["ALLOCATIONS_DB"]).all(POOL)
        if a.owner.startswith(f"{slug}/")
    }


def _cloudctl(capsys: pytest.CaptureFixture[str], cloud: CloudUnderTest, *args: str) -> tuple[int, str]:
    code = cloudctl.main(["--env", "local", "--tenants-dir", str(cloud.tenants_dir), *args])
    return code, capsys.readouterr().out


def test_step1_two_servers_hold_two_allocations(local_cloud: CloudUnderTest) -> None:
    result = local_cloud.stacks.run(local_cloud.tenant("bravo"), "up")
    assert result.ok, result.error
    assert _rows("bravo") == {
        f"bravo/{i}": (result.outputs["vmIds"][i], result.outputs["addresses"][i]) for i in range(2)
    }


def test_step2_refresh_keeps_allocations_in_state(local_cloud: CloudUnderTest) -> None:
    refresh = local_cloud.stacks.run(local_cloud.tenant("bravo"), "refresh")
    assert refresh.ok, refresh.error
    assert "delete" not in refresh.changes, refresh.changes
    deployment = local_cloud.stacks.stack(local_cloud.tenant("bravo")).export_stack().deployment
    assert recorded_allocations(deployment) == {(POOL, "bravo/0"), (POOL, "bravo/1")}
    preview = local_cloud.stacks.run(local_cloud.tenant("bravo"), "preview")
    assert preview.ok, preview.error
    assert set(preview.changes) <= {"same"}, preview.changes


def test_step3_free_orphans_frees_leaked_rows_only(
    local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(os.environ["ALLOCATIONS_DB"])
    region = local_cloud.stacks.environment.regions["pve-eu1"]
    spec = PoolSpec(region.vmid_start, region.vmid_end, region.network, region.gateway, region.reserved)
    ghost = store.allocate(POOL, "ghost/0", spec, "pve1")  # its stack never existed
    leaked = store.allocate(POOL, "bravo/7", spec, "pve1")  # its stack exists but records no server 7
    before = store.everything()

    code, out = _cloudctl(capsys, local_cloud, "allocations", "free-orphans", "--dry-run")
    assert code == 0, out
    assert "would free 2 orphan" in out and "ghost/0" in out and "bravo/7" in out and str(leaked.vmid) in out
    assert store.everything() == before

    code, out = _cloudctl(capsys, local_cloud, "allocations", "free-orphans")
    assert code == 0, out
    assert "freed 2 orphan" in out
    assert store.get(POOL, "ghost/0") is None and store.get(POOL, "bravo/7") is None
    assert set(_rows("bravo")) == {"bravo/0", "bravo/1"}
    assert ghost.vmid not in {a.vmid for a in store.all(POOL)}

    code, out = _cloudctl(capsys, local_cloud, "allocations", "list")
    assert code == 0 and out.count(" held ") == 2, out


def test_step4_scale_down_frees_the_removed_server(local_cloud: CloudUnderTest) -> None:
    kept = _rows("bravo")["bravo/0"]
    spec = local_cloud.tenants_dir / "bravo.yaml"
    spec.write_text(spec.read_text().replace("servers: 2", "servers: 1"))
    result = local_cloud.stacks.run(local_cloud.tenant("bravo"), "up")
    assert result.ok, result.error
    assert result.outputs["vmIds"] == [kept[0]]
    assert _rows("bravo") == {"bravo/0": kept}


def test_step5_destroy_frees_everything(local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    result = local_cloud.stacks.run(local_cloud.tenant("bravo"), "destroy")
    assert result.ok, result.error
    assert _rows("bravo") == {}
    code, out = _cloudctl(capsys, local_cloud, "allocations", "list")
    region = local_cloud.stacks.environment.regions["pve-eu1"]
    capacity_row = next(line for line in out.splitlines() if POOL in line)  # no allocation rows are left
    assert code == 0 and str(region.vmid_end - region.vmid_start + 1) in capacity_row, out  # every id free again
