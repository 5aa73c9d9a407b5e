"""The quota pack through the real engine: ``preview(policy_packs=[policies], policy_pack_configs=[...])``.

The pack's config is generated from the genuine environment by :func:`policies.runtime.policy_args`
(exactly the ``--policy-pack policies --policy-pack-config <file>`` flags of the CLI). A tenant within
its plan previews clean; the same tenant previewed by a program reading a tampered environment file
(plan ``starter`` claiming 8 cores) must fail, naming the mandatory policy and its message, and
change nothing.

The server-count quota is checked on a *brand-new* tenant stack (bravo, business x2, never applied):
the spec loader refuses a file over ``max_servers``, so the program reads the genuine environment
(business allows 3) while the pack's config is generated from an environment whose business plan
allows 1. The preview must fail with ``tenant-server-quota`` and the message the door check gives
for the same request against the same limits.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from policies import quotas as q
from policies.request import check_in_environment
from policies.runtime import policy_args
from provisioning.stacks import TenantStacks
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine
SLUG, REGION = "alpha", "pve-eu1"


def _vm_cores(cloud: CloudUnderTest, vmid: int) -> int:
    return int(cloud.cloud.proxmox[REGION][0].backend.vms.get(vmid).config["cores"])


@pytest.fixture(scope="module")
def applied(local_cloud: CloudUnderTest) -> dict:
    """Outputs of alpha applied within its plan (the stack the previews below start from)."""
    result = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert result.ok, result.error
    return result.outputs


def test_tenant_within_its_plan_passes_the_pack(
    local_cloud: CloudUnderTest,
    applied: dict,
    tmp_path: Path,
) -> None:
    stacks = local_cloud.stacks
    spec = local_cloud.tenant(SLUG)
    assert (
        check_in_environment(
            stacks.environment,
            tenant=SLUG,
            plan_name=spec.plan,
            servers=spec.servers,
            region=spec.region,
            host_label=spec.host_label,
        )
        == []
    )  # the service's door agrees
    stack = stacks.stack(spec)
    preview = stack.preview(color="never", **policy_args("local", stacks.environment, tmp_path))
    assert "dokploy-cloud-quotas" in preview.stdout and "mandatory" not in preview.stdout, preview.stdout


def test_vm_over_plan_fails_preview_with_the_policy_name_and_message(
    local_cloud: CloudUnderTest,
    applied: dict,
    tmp_path: Path,
) -> None:
    genuine = local_cloud.stacks.environment
    env_file = Path(local_cloud.tenants_dir).parent / "Pulumi.e2e.yaml"
    tampered = yaml.safe_load(env_file.read_text())
    tampered["config"]["dokploy-cloud:plans"]["starter"]["cores"] = 8
    (tmp_path / "tampered.yaml").write_text(yaml.safe_dump(tampered, sort_keys=False))
    stacks = TenantStacks("local", extra_env={"DOKPLOY_CLOUD_ENV_FILE": str(tmp_path / "tampered.yaml")})
    with pytest.raises(auto.CommandError) as failed:
        stacks.stack(local_cloud.tenant(SLUG)).preview(color="never", **policy_args("local", genuine, tmp_path))
    text = str(failed.value)
    assert f"{q.VM_WITHIN_PLAN}" in text and "mandatory" in text, text
    assert f"VM {SLUG}-s0-vm: cpu.cores = 8 exceeds plan 'starter' limit of 2" in text, text
    assert _vm_cores(local_cloud, applied["vmIds"][0]) == genuine.plans["starter"].cores


def test_servers_over_the_plan_fail_a_new_stack_preview_with_the_door_checks_message(
    local_cloud: CloudUnderTest, tmp_path: Path
) -> None:
    stacks = local_cloud.stacks
    spec = local_cloud.tenant("bravo")
    genuine = stacks.environment
    assert (spec.plan, spec.servers, genuine.plans["business"].max_servers) == ("business", 2, 3)
    lowered = replace(genuine, plans={**genuine.plans, "business": replace(genuine.plans["business"], max_servers=1)})
    door = check_in_environment(
        lowered,
        tenant="bravo",
        plan_name=spec.plan,
        servers=spec.servers,
        region=spec.region,
        host_label=spec.host_label,
    )
    message = "tenant bravo: 2 servers exceed plan 'business' limit of 1 (max_servers)"
    assert [(v.policy, v.message) for v in door] == [(q.TENANT_SERVER_QUOTA, message)]
    with pytest.raises(auto.CommandError) as failed:
        stacks.stack(spec).preview(color="never", **policy_args("local", lowered, tmp_path))
    text = str(failed.value)
    assert q.TENANT_SERVER_QUOTA in text and "mandatory" in text and message in text, text
    assert q.VM_WITHIN_PLAN not in text, text  # sizing is within the plan: only the count is refused
    vms = local_cloud.cloud.proxmox[REGION][0].backend.vms.values()
    assert not [vm.vmid for vm in vms if "bravo" in str(vm.config.get("name", ""))]  # the preview created nothing
