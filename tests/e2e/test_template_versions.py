"""Template versions through the real engine: a new version rolls out to new tenants, existing ones keep theirs.

The environment names its templates by version (``template_versions`` per region, ``template_version`` the
current one). A tenant applied on version 2026.11 records the template it was cloned from (``templateIds``).
An administrator then builds 2026.12's templates and grants the token on them (as `pveum` would), and the
environment makes 2026.12 current: a re-apply of the old tenant changes nothing (same VM, same recorded template)
and `cloudctl status` lists it as outdated, while a new tenant is cloned from 2026.12. The quota policy (on every
run) accepts clones from any declared version. Runs with the least-privilege token of tests/e2e/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.proxmox_access import grants
from provisioning.stacks import TenantStacks
from provisioning.status import tenant_status
from scripts import cloudctl
from sim.proxmox.seed import seed_template
from tests.e2e.conftest import CloudUnderTest, running_cloud

pytestmark = pytest.mark.engine
REGION, OLD, NEW = "pve-eu1", "2026.11", "2026.12"
NEW_IDS = {"pve1": 9100, "pve2": 9101, "pve3": 9102}


def _versioned(env: dict[str, Any]) -> None:
    region = env["regions"][REGION]
    region["template_versions"] = {OLD: region.pop("templates")}
    env["template_version"] = OLD


@pytest.fixture(scope="module")
def versioned_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudUnderTest]:
    yield from running_cloud(tmp_path_factory, _versioned)


def _roll_out_new_version(cloud: CloudUnderTest) -> None:
    """What the administrator does: build the new templates, grant the token on them, make the version current."""
    backend = cloud.cloud.proxmox[REGION][0].backend
    for node, vmid in NEW_IDS.items():
        seed_template(backend, node, vmid)
    env_file = Path(os.environ["DOKPLOY_CLOUD_ENV_FILE"])
    data = yaml.safe_load(env_file.read_text())
    env = data["config"]["dokploy-cloud:environment"]
    env["regions"][REGION]["template_versions"][NEW] = NEW_IDS
    env["template_version"] = NEW
    env_file.write_text(yaml.safe_dump(data, sort_keys=False))
    cloud.stacks = TenantStacks("local")
    user, _, rest = os.environ["PROXMOX_VE_API_TOKEN"].partition("!")
    token = f"{user}!{rest.partition('=')[0]}"
    region = cloud.stacks.environment.regions[REGION]
    with backend.lock:
        for grant in grants(region, cloud.stacks.environment):
            backend.access.add_acl(grant.path, grant.role, user=user, propagate=grant.propagate)
            backend.access.add_acl(grant.path, grant.role, token=token, propagate=grant.propagate)


def _clones_of(cloud: CloudUnderTest, template: int) -> int:
    """How many clone tasks the cluster ran from ``template`` (a ``qmclone`` task's id is its source VM)."""
    tasks = cloud.cloud.proxmox[REGION][0].backend.tasks.values()
    return sum(1 for t in tasks if t.ttype == "qmclone" and t.tid == str(template) and t.exitstatus == "OK")


def test_a_new_version_rolls_out_to_new_tenants_only(
    versioned_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = versioned_cloud
    old = cloud.stacks.run(cloud.tenant("alpha"), "up")
    assert old.ok, old.error
    [old_template] = old.outputs["templateIds"]
    assert cloud.stacks.environment.regions[REGION].template_version(old_template) == OLD
    status = tenant_status(cloud.stacks, cloud.tenant("alpha"))
    assert (status.templates, status.outdated) == ([OLD], False)

    _roll_out_new_version(cloud)
    again = cloud.stacks.run(cloud.tenant("alpha"), "up")
    assert again.ok, again.error
    assert again.outputs["vmIds"] == old.outputs["vmIds"] and again.outputs["templateIds"] == [old_template]
    assert again.changes.get("replace", 0) == 0 and again.changes.get("create", 0) == 0, again.changes

    (cloud.tenants_dir / "delta.yaml").write_text(
        f"slug: delta\ndisplay_name: Delta\nplan: starter\nregion: {REGION}\n"
        "dokploy_organization: org_delta\nowner: ops@delta.example\n"
    )
    assert cloud.cloud.dokploy is not None
    cloud.cloud.add_tenant(cloud.cloud.dokploy[0], cloud.tenant("delta"))
    new = cloud.stacks.run(cloud.tenant("delta"), "up")
    assert new.ok, new.error
    [new_template] = new.outputs["templateIds"]
    assert new_template in NEW_IDS.values()
    assert _clones_of(cloud, new_template) == 1 and _clones_of(cloud, old_template) == 1

    assert tenant_status(cloud.stacks, cloud.tenant("alpha")).templates == [f"{OLD} (outdated)"]
    fresh = tenant_status(cloud.stacks, cloud.tenant("delta"))
    assert (fresh.templates, fresh.outdated) == ([NEW], False)
    args = ["--env", "local", "--tenants-dir", str(cloud.tenants_dir)]
    assert cloudctl.main([*args, "status", "alpha", "delta"]) == 0
    out = capsys.readouterr().out
    assert f"on an old template (current: {NEW}): alpha" in out and "(outdated)" in out

    for slug in ("alpha", "delta"):
        gone = cloud.stacks.run(cloud.tenant(slug), "destroy")
        assert gone.ok, gone.error
