"""cloudctl's backup commands on a local cloud: back up, list, refuse and then do a restore, decommission with
its archive date, list archives, undelete from a git tree the tenant's file has left, purge dry run."""

from __future__ import annotations

import re

import pytest

from scripts import cloudctl
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine
SLUG = "alpha"


def _run(capsys: pytest.CaptureFixture[str], cloud: CloudUnderTest, *args: str) -> tuple[int, str]:
    code = cloudctl.main(["--env", "local", "--tenants-dir", str(cloud.tenants_dir), *args])
    return code, capsys.readouterr().out


def test_backup_restore_decommission_undelete(local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    backend = local_cloud.cloud.proxmox["pve-eu1"][0].backend
    assert _run(capsys, local_cloud, "up", SLUG)[0] == 0

    code, out = _run(capsys, local_cloud, "backup", SLUG)
    assert code == 0 and "Finished Backup of VM" in out and "new backups of alpha" in out
    volid = re.search(r"(nfs-backup:backup/vzdump-qemu-\d+-[\d_-]+\.vma\.zst)", out)
    assert volid is not None, out
    code, out = _run(capsys, local_cloud, "backups", SLUG)
    assert code == 0 and volid.group(1) in out and "backup" in out, out

    code, out = _run(capsys, local_cloud, "restore", SLUG, volid.group(1), "--server", "0")
    assert code == 1 and "is running" in out and "--stop" in out
    code, out = _run(capsys, local_cloud, "restore", SLUG, volid.group(1), "--server", "0", "--stop")
    assert code == 0 and "in place" in out
    code, out = _run(capsys, local_cloud, "restore", SLUG, "nfs-backup:backup/vzdump-qemu-1-x.vma.zst", "--server", "0")
    assert code == 1 and "is not a backup of tenant alpha" in out

    code, out = _run(capsys, local_cloud, "destroy", SLUG, "--yes")
    assert code == 0 and re.search(r"alpha archived until \d{4}-\d\d-\d\d", out), out
    assert not [vm for vm in backend.vms.values() if not vm.is_template]
    (local_cloud.tenants_dir / f"{SLUG}.yaml").unlink()

    code, out = _run(capsys, local_cloud, "archives", SLUG)
    assert code == 0 and "alpha.cloud.test" in out and "delete after" in out
    code, out = _run(capsys, local_cloud, "undelete", SLUG)
    assert code == 0 and "re-declared alpha from its archive" in out and "restored, re-applied" in out
    assert (local_cloud.tenants_dir / f"{SLUG}.yaml").exists()
    assert [vm.status for vm in backend.vms.values() if not vm.is_template] == ["running"]
    code, out = _run(capsys, local_cloud, "purge-archives", "--dry-run")
    assert code == 0 and "would remove 0 archive(s)" in out
    assert _run(capsys, local_cloud, "destroy", SLUG, "--yes")[0] == 0
