"""The product runs with exactly the documented least-privilege layout, and needs every privilege of it.

The layout is :mod:`provisioning.proxmox_access` (docs/proxmox-privileges.md): the local cloud gives the
product a privilege-separated token holding those grants and nothing else. One tenant lives its whole
life under it through the real engine, with the simulator journaling every permission decision made
about the token: the region's warm pool filled (clone, configure, start, firewall), the tenant created by
claiming that VM (its key written through the guest agent), a plan change its node cannot take (migrate,
then cores, memory, disk, stop and start; the plan's backup job), refresh,
an on-demand backup protected and restored in place, destroy (archive first), undelete, destroy, purge.

Minimality, without an engine run per privilege: the journal is re-evaluated with one privilege taken
away. The requests before the first decision that changes are the same as in the recorded run, so that
decision is the first refusal the product would meet; it must name the privilege. Where PVE hides data
instead of refusing (a listing filter), the privilege must be one the product checks itself. The last
steps take privileges away for real: the engine run fails with exactly the refusal the replay named, and
without Pool.Audit the product refuses up front, naming it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

import pytest

from provisioning.proxmox_access import ROLES, SELF_CHECKED, grants
from provisioning.tenant_backups import TenantBackups
from provisioning.warm_pool import WarmPool
from sim.proxmox.access import Access, Decision, copy_access, first_denial
from sim.proxmox.backend import Backend
from tests.e2e.conftest import CloudUnderTest, running_cloud

pytestmark = pytest.mark.engine
SLUG, REGION = "alpha", "pve-eu1"
LAYOUT = [(role, privilege) for role, privileges in ROLES.items() for privilege in privileges]
_run: dict[str, object] = {}


@pytest.fixture(scope="module")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudUnderTest]:
    """The fixture tenants' cloud, with a warm pool of one starter VM in the tenant's region."""

    def warm(env: dict[str, Any]) -> None:
        env["regions"][REGION]["warm_pool"] = {"size": 1, "plan": "starter"}
        env["warm_pool_organization"] = "org_warm_pool"

    yield from running_cloud(tmp_path_factory, warm)


def _backend(cloud: CloudUnderTest) -> Backend:
    return cloud.cloud.proxmox[REGION][0].backend


def _without(backend: Backend, role: str, privilege: str) -> Access:
    access = copy_access(backend.access)
    access.roles[role].discard(privilege)
    return access


def test_step1_a_tenant_lives_and_dies_under_the_documented_token(local_cloud: CloudUnderTest) -> None:
    backend = _backend(local_cloud)
    token = os.environ["PROXMOX_VE_API_TOKEN"].partition("=")[0]
    user = token.partition("!")[0]
    region = local_cloud.stacks.environment.regions[REGION]
    assert {(a.path, a.role) for a in backend.access.acl if a.subject in (user, token)} == {
        (g.path, g.role) for g in grants(region, local_cloud.stacks.environment)
    }, "the token holds the documented grants and nothing else"
    backend.access.journal = []

    [warm] = WarmPool(local_cloud.stacks).fill(REGION)
    created = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert created.ok, created.error
    vmid = created.outputs["vmIds"][0]
    assert vmid == warm, "the tenant claimed the warm VM"
    assert backend.vms[vmid].pool == region.pool
    node = created.outputs["nodes"][0]
    full = backend.nodes[node].maxmem
    backend.nodes[node].maxmem = backend.node_entry(node)["mem"] + 2 * 2**30  # the upgrade needs 4 GiB more
    spec = local_cloud.tenants_dir / f"{SLUG}.yaml"
    spec.write_text(spec.read_text().replace("plan: starter", "plan: business"))
    resized = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    assert resized.ok, resized.error
    backend.nodes[node].maxmem = full
    assert backend.vms[vmid].node != node, "the upgrade its node could not take migrated the VM"
    config = backend.vms[vmid].config
    assert (int(config["cores"]), int(config["memory"])) == (4, 8192) and backend.vms[vmid].status == "running"
    refreshed = local_cloud.stacks.run(local_cloud.tenant(SLUG), "refresh")
    assert refreshed.ok, refreshed.error
    backups = TenantBackups(local_cloud.stacks)
    [taken] = backups.backup(local_cloud.tenant(SLUG))
    backups.protect(local_cloud.tenant(SLUG), taken.volid)
    assert backups.restore(local_cloud.tenant(SLUG), taken.volid, 0, stop=True).restored
    destroyed = local_cloud.stacks.run(local_cloud.tenant(SLUG), "destroy")
    assert destroyed.ok, destroyed.error
    assert vmid not in backend.vms
    undeleted = backups.undelete(local_cloud.tenant(SLUG))  # the archive, back into the same VM id
    assert undeleted.applied is not None and undeleted.applied.outputs["vmIds"] == [vmid]
    destroyed = local_cloud.stacks.run(local_cloud.tenant(SLUG), "destroy")
    assert destroyed.ok, destroyed.error
    [archive] = backups.archives(SLUG)
    assert [a.volid for a in backups.purge(today=dt.date.fromisoformat(archive.delete_after) + dt.timedelta(1))] == [
        archive.volid
    ]

    journal: list[Decision] = list(backend.access.journal)
    backend.access.journal = None
    assert {d.authid for d in journal} == {token}
    assert first_denial(journal, copy_access(backend.access)) is None
    _run.update(journal=journal, vmid=vmid)


@pytest.mark.parametrize("role,privilege", LAYOUT, ids=[f"{r}-{p}" for r, p in LAYOUT])
def test_step2_without_any_one_privilege_the_product_is_refused_naming_it(
    local_cloud: CloudUnderTest, role: str, privilege: str
) -> None:
    journal = _run.get("journal")
    assert isinstance(journal, list), "needs step 1's journal"
    denied = first_denial(journal, _without(_backend(local_cloud), role, privilege))
    assert denied is not None, f"{privilege} of {role} is never needed: drop it from the layout"
    decision, detail = denied
    if decision.kind == "filter":  # PVE hides data instead of refusing: the product must name it itself
        assert privilege in SELF_CHECKED, (detail, privilege)
    if detail == "Permission check failed" or decision.kind == "volume-access":
        # PVE's bare answer when no branch of an 'or' passes, or the check of the last branch it tried
        assert privilege in decision.about, (decision.about, privilege)
    else:
        path, _, needed = detail.partition(", ")
        assert path.startswith("/") and privilege in needed.split("|"), (detail, privilege)


def test_step3_a_real_run_without_a_privilege_fails_as_the_replay_says(local_cloud: CloudUnderTest) -> None:
    journal = _run.get("journal")
    assert isinstance(journal, list), "needs step 1's journal"
    backend = _backend(local_cloud)
    role, privilege = "DokployCloudVM", "VM.Config.Memory"
    denied = first_denial(journal, _without(backend, role, privilege))
    assert denied is not None
    spec = local_cloud.tenants_dir / f"{SLUG}.yaml"
    spec.write_text(spec.read_text().replace("plan: business", "plan: starter"))
    backend.access.roles[role].discard(privilege)
    try:
        result = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    finally:
        backend.access.roles[role].add(privilege)
    assert not result.ok
    vmid = next(v for v in backend.vms if backend.vms[v].pool is not None)
    assert denied[1].replace(f"/vms/{_run['vmid']}", f"/vms/{vmid}") in (result.error or ""), result.error
    cleaned = local_cloud.stacks.run(local_cloud.tenant(SLUG), "destroy")
    assert cleaned.ok, cleaned.error


def test_step4_without_pool_audit_an_update_is_refused_up_front_naming_it(local_cloud: CloudUnderTest) -> None:
    backend = _backend(local_cloud)
    pool = local_cloud.stacks.environment.regions[REGION].pool
    before = set(backend.vms)
    backend.access.roles["DokployCloudVM"].discard("Pool.Audit")
    try:
        result = local_cloud.stacks.run(local_cloud.tenant(SLUG), "up")
    finally:
        backend.access.roles["DokployCloudVM"].add("Pool.Audit")
    assert not result.ok
    assert f"grant Pool.Audit on /pool/{pool}" in (result.error or ""), result.error
    assert set(backend.vms) == before, "refused before anything was created"
