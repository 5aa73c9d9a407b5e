"""The operator CLI on a local cloud: up, status table, recover, destroy, and refusing without --yes."""

from __future__ import annotations

import pytest

from scripts import cloudctl
from sim.dokploy.faults import PathFault
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine


def _run(capsys: pytest.CaptureFixture[str], cloud: CloudUnderTest, *args: str) -> tuple[int, str]:
    code = cloudctl.main(["--env", "local", "--tenants-dir", str(cloud.tenants_dir), *args])
    return code, capsys.readouterr().out


def test_up_status_recover_destroy(local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(capsys, local_cloud, "up", "charlie")
    assert code == 0 and "charlie" in out and "ok" in out

    code, out = _run(capsys, local_cloud, "status", "charlie", "alpha")
    assert code == 0
    assert "charlie-apps.cloud.test" in out and "update succeeded" in out
    assert "not deployed" in out  # alpha was never applied

    code, out = _run(capsys, local_cloud, "recover", "charlie")
    lock_row = next(line for line in out.splitlines() if "stale lock cleared" in line)
    assert code == 0 and " no " in lock_row, "a clean stack has nothing to recover"

    code, out = _run(capsys, local_cloud, "destroy", "charlie")
    assert code == 2 and "--yes" in out
    code, out = _run(capsys, local_cloud, "destroy", "charlie", "--yes")
    assert code == 0
    assert not [
        vm for vm in local_cloud.cloud.proxmox["pve-us1"][0].backend.vms.values() if not vm.config.get("template")
    ]


def test_invalid_tenant_file_fails_before_anything_is_created(
    local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = local_cloud.tenants_dir / "delta.yaml"
    bad.write_text(
        "slug: delta\ndisplay_name: Delta\nplan: gold\nregion: pve-eu1\n"
        "dokploy_organization: org_delta\nowner: a@delta.example\ncolour: blue\n"
    )
    try:
        vms_before = dict(local_cloud.cloud.proxmox["pve-eu1"][0].backend.vms)
        code, out = _run(capsys, local_cloud, "up")
        assert code == 2
        assert "delta.yaml:3: field 'plan': unknown plan 'gold'" in out
        assert "delta.yaml:7: field 'colour'" in out
        assert dict(local_cloud.cloud.proxmox["pve-eu1"][0].backend.vms) == vms_before
    finally:
        bad.unlink()


def test_up_succeeds_while_dokploy_cannot_revoke_its_key(
    local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    """A revoke failing after a successful up never turns it into a failure; revoke-keys finishes the job."""
    assert local_cloud.cloud.dokploy is not None
    dokploy = local_cloud.cloud.dokploy[0]
    with dokploy.lock:
        dokploy.faults.paths = [PathFault(r"user\.deleteApiKey", error_rate=1.0, status=503)]
    try:
        code, out = _run(capsys, local_cloud, "up", "alpha")
    finally:
        with dokploy.lock:
            dokploy.faults.paths = []
    assert code == 0 and "alpha" in out
    [queued] = local_cloud.stacks.key_ledger().all()
    assert queued.state == "revoke" and queued.stack == "local.alpha"
    assert queued.key_id in dokploy.api_keys

    code, out = _run(capsys, local_cloud, "revoke-keys")
    assert code == 0 and queued.name in out
    assert local_cloud.stacks.key_ledger().all() == [] and queued.key_id not in dokploy.api_keys
    code, _ = _run(capsys, local_cloud, "destroy", "alpha", "--yes")
    assert code == 0
