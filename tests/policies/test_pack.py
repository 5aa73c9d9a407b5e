"""Each policy of the pack fires with its name and message on a bad input and passes allowed inputs."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel

from policies import quotas as q
from policies.pack import POLICIES
from policies.views import BACKUP_JOB_TYPE, CT_TYPE, DNS_RECORD_TYPE, VM_TYPE
from tests.policies.conftest import UNKNOWN, firewall, stack_resource, tenant, vm_props

VM_RULES = [
    q.VM_WITHIN_PLAN,
    q.VM_TEMPLATE_ALLOWED,
    q.VM_TENANT_TAGS,
    q.VM_TENANT_POOL,
    q.VM_WHOLE_GIB,
    q.VM_DISK_MIN,
    q.VM_BELOW_PLAN,
]


def test_pack_names_are_kebab_case_with_one_sentence_descriptions() -> None:
    for p in POLICIES:
        assert p.name == p.name.lower() and " " not in p.name and "_" not in p.name
        assert p.description.endswith(".") and p.description.count(". ") == 0


def test_advisory_rules_are_advisory() -> None:
    levels = {p.name: p.enforcement_level for p in POLICIES}
    assert {n for n, lvl in levels.items() if lvl == EnforcementLevel.ADVISORY} == {
        q.VM_WHOLE_GIB,
        q.VM_DISK_MIN,
        q.VM_BELOW_PLAN,
    }


def test_tenant_vm_as_built_passes_every_vm_rule(run_resource_policy) -> None:
    for rule in VM_RULES:
        assert run_resource_policy(rule, VM_TYPE, vm_props()) == []


def test_vm_over_plan_cores_memory_disk(run_resource_policy) -> None:
    found = run_resource_policy(
        q.VM_WITHIN_PLAN, VM_TYPE, vm_props(cpu={"cores": 3}, memory={"dedicated": 8192}, disks=[{"size": 41}])
    )
    assert [m for _, m, _ in found] == [
        "VM acme-s0-vm: cpu.cores = 3 exceeds plan 'starter' limit of 2",
        "VM acme-s0-vm: memory.dedicated = 8192 MB exceeds plan 'starter' limit of 4096 MB",
        "VM acme-s0-vm: disks[0].size = 41 GB exceeds plan 'starter' limit of 40 GB",
    ]
    assert {p for p, _, _ in found} == {q.VM_WITHIN_PLAN}


def test_vm_with_unknown_plan_tag(run_resource_policy) -> None:
    found = run_resource_policy(q.VM_WITHIN_PLAN, VM_TYPE, vm_props(tags=["dokploy-cloud", "tenant-acme", "plan-gold"]))
    assert found == [
        (q.VM_WITHIN_PLAN, "VM acme-s0-vm: tag plan-gold names an unknown plan (known: business, starter)", None)
    ]


def test_unknown_sizes_are_skipped_not_failed(run_resource_policy) -> None:
    props = vm_props(cpu={"cores": UNKNOWN}, memory={"dedicated": 99999}, clone={"vmId": UNKNOWN})
    found = run_resource_policy(q.VM_WITHIN_PLAN, VM_TYPE, props)
    assert [m for _, m, _ in found] == [
        "VM acme-s0-vm: memory.dedicated = 99999 MB exceeds plan 'starter' limit of 4096 MB"
    ]
    assert run_resource_policy(q.VM_TEMPLATE_ALLOWED, VM_TYPE, props) == []


def test_template_not_allowed(run_resource_policy) -> None:
    found = run_resource_policy(q.VM_TEMPLATE_ALLOWED, VM_TYPE, vm_props(clone={"vmId": 105}))
    assert found == [
        (
            q.VM_TEMPLATE_ALLOWED,
            "VM acme-s0-vm: clone.vmId = 105 is not an allowed template (allowed: [9000, 9001])",
            None,
        )
    ]


def test_missing_tenant_and_plan_tags(run_resource_policy) -> None:
    found = run_resource_policy(q.VM_TENANT_TAGS, VM_TYPE, vm_props(tags=["dokploy-cloud"]))
    assert found == [
        (
            q.VM_TENANT_TAGS,
            "VM acme-s0-vm: tags must include exactly one of each of tenant-<slug>, "
            "plan-<name> (has ['dokploy-cloud'])",
            None,
        )
    ]


def test_pool_missing_or_foreign(run_resource_policy) -> None:
    props = vm_props()
    del props["poolId"]
    assert run_resource_policy(q.VM_TENANT_POOL, VM_TYPE, props)[0][1] == (
        "VM acme-s0-vm: pool_id is not set; tenant VMs belong to the region's provisioning pool (dokploy-local)"
    )
    assert run_resource_policy(q.VM_TENANT_POOL, VM_TYPE, vm_props(poolId="local-acme"))[0][1] == (
        "VM acme-s0-vm: pool_id 'local-acme' is not a provisioning pool of this environment (allowed: ['dokploy-local'])"
    )
    assert run_resource_policy(q.VM_TENANT_POOL, VM_TYPE, vm_props()) == []


def test_dns_record_outside_zone(run_resource_policy) -> None:
    ok = {"zone": "cloud.test", "name": "acme.cloud.test.", "type": "A", "content": [UNKNOWN], "ttl": 60}
    assert run_resource_policy(q.DNS_IN_ZONE, DNS_RECORD_TYPE, ok, name="acme-s0-dns") == []
    found = run_resource_policy(q.DNS_IN_ZONE, DNS_RECORD_TYPE, {**ok, "name": "acme.evil.test."}, name="acme-s0-dns")
    assert found == [
        (q.DNS_IN_ZONE, "DNS record acme-s0-dns: name 'acme.evil.test.' is outside the zone 'cloud.test'", None)
    ]
    found = run_resource_policy(
        q.DNS_IN_ZONE, DNS_RECORD_TYPE, {**ok, "zone": "other.test", "name": "acme"}, name="acme-s0-dns"
    )
    assert found == [
        (q.DNS_IN_ZONE, "DNS record acme-s0-dns: zone 'other.test' is not the environment's zone 'cloud.test'", None)
    ]


def test_advisories(run_resource_policy) -> None:
    props = vm_props(memory={"dedicated": 3000}, disks=[{"size": 4}], cpu={"cores": 1})
    assert run_resource_policy(q.VM_WHOLE_GIB, VM_TYPE, props)[0][1] == (
        "VM acme-s0-vm: memory.dedicated = 3000 MB is not a multiple of 1024"
    )
    assert run_resource_policy(q.VM_DISK_MIN, VM_TYPE, props)[0][1] == (
        "VM acme-s0-vm: disks[0].size = 4 GB is below the template's 8 GB; a cloned disk cannot shrink"
    )
    assert run_resource_policy(q.VM_BELOW_PLAN, VM_TYPE, props)[0][1] == (
        "VM acme-s0-vm: smaller than plan 'starter' (cpu.cores = 1 < 2; memory.dedicated = 3000 < 4096; disks[0].size = 4 < 40)"
    )


def test_other_resource_types_are_ignored(run_resource_policy) -> None:
    assert run_resource_policy(q.VM_WITHIN_PLAN, DNS_RECORD_TYPE, vm_props(cpu={"cores": 64})) == []


def _tenant_stack(count: int, plan: str = "starter", slug: str = "acme") -> list:
    parent = tenant(slug)
    out = [parent]
    for i in range(count):
        vm = stack_resource(
            VM_TYPE,
            f"{slug}-s{i}-vm",
            vm_props(vmId=UNKNOWN, tags=["dokploy-cloud", f"plan-{plan}", f"tenant-{slug}"]),
            parent,
        )
        out += [vm, firewall(f"{slug}-s{i}-vm-firewall", vm)]
    return out


def test_server_quota_counts_vms_per_parent(run_stack_policy) -> None:
    assert run_stack_policy(q.TENANT_SERVER_QUOTA, _tenant_stack(1) + _tenant_stack(3, "business", "globex")) == []
    found = run_stack_policy(q.TENANT_SERVER_QUOTA, _tenant_stack(2) + _tenant_stack(3, "business", "globex"))
    assert found == [
        (
            q.TENANT_SERVER_QUOTA,
            "tenant acme: 2 servers exceed plan 'starter' limit of 1 (max_servers)",
            f"urn:{'dokploy-cloud:tenant:TenantEnvironment'}::acme",
        )
    ]


def test_firewall_present_and_dropping(run_stack_policy) -> None:
    assert run_stack_policy(q.VM_FIREWALL, _tenant_stack(2)) == []


def test_vm_without_firewall(run_stack_policy) -> None:
    resources = [r for r in _tenant_stack(1) if not r.name.endswith("firewall")]
    found = run_stack_policy(q.VM_FIREWALL, resources)
    assert found == [
        (
            q.VM_FIREWALL,
            "VM acme-s0-vm: no firewall OptionsLegacy for this vm (expected one with input_policy DROP)",
            f"urn:{VM_TYPE}::acme-s0-vm",
        )
    ]


def test_firewall_accepting_inbound(run_stack_policy) -> None:
    parent = tenant()
    vm = stack_resource(VM_TYPE, "acme-s0-vm", vm_props(), parent)
    fw = stack_resource(
        "proxmoxve:firewall/optionsLegacy:OptionsLegacy", "fw", {"vmId": 10001, "inputPolicy": "ACCEPT"}, parent
    )
    found = run_stack_policy(q.VM_FIREWALL, [parent, vm, fw])
    assert [m for _, m, _ in found] == ["VM acme-s0-vm: firewall fw input_policy = 'ACCEPT', expected 'DROP'"]


def _job(parent, vmids: list[object], **overrides: object):
    props = {
        "resourceId": "dc_local_globex",
        "schedule": "02:00",
        "storage": "nfs-backup",
        "mode": "snapshot",
        "pruneBackups": {"keep-daily": "7"},
        "vmids": vmids,
        **overrides,
    }
    return stack_resource(BACKUP_JOB_TYPE, "globex-backups", props, parent)


def _business_stack(count: int = 2):
    parent = tenant("globex")
    tags = ["dokploy-cloud", "plan-business", "tenant-globex"]
    vms = [
        stack_resource(VM_TYPE, f"globex-s{i}-vm", vm_props(vmId=10000 + i, tags=tags), parent) for i in range(count)
    ]
    return [parent, *vms]


def test_backup_job_follows_the_plan_and_covers_every_server(run_stack_policy) -> None:
    stack = _business_stack()
    parent = stack[0]
    assert run_stack_policy(q.TENANT_BACKUPS, [*stack, _job(parent, ["10000", "10001"])]) == []
    assert run_stack_policy(q.TENANT_BACKUPS, [*stack, _job(parent, [UNKNOWN, UNKNOWN])]) == [], "preview: unknown"
    assert run_stack_policy(q.TENANT_BACKUPS, _tenant_stack(1)) == [], "starter has no backups, and no job"
    found = run_stack_policy(q.TENANT_BACKUPS, stack)
    assert [m for _, m, _ in found] == [
        "tenant globex: plan 'business' promises backups; expected one backup job, found 0"
    ]
    found = run_stack_policy(q.TENANT_BACKUPS, [*stack, _job(parent, ["10000"], schedule="sun 03:00")])
    assert [m for _, m, _ in found] == [
        "tenant globex: backup job schedule = 'sun 03:00', plan 'business' says '02:00'",
        "tenant globex: backup job does not cover VM(s) [10001]",
    ]
    starter = _tenant_stack(1)
    found = run_stack_policy(q.TENANT_BACKUPS, [*starter, _job(starter[0], ["10000"])])
    assert [m for _, m, _ in found] == ["tenant acme: plan 'starter' has no backups, but job globex-backups exists"]


def _container_props(**overrides) -> dict:
    """ContainerLegacy inputs as the tenant container is built (starter sizing)."""
    props = {
        "tags": ["dokploy-cloud", "plan-starter", "tenant-acme"],
        "poolId": "dokploy-local",
        "vmId": 10001,
        "nodeName": "pve1",
        "cpu": {"cores": 2},
        "memory": {"dedicated": 4096, "swap": 0},
        "disk": {"datastoreId": "local-lvm", "size": 40},
        "operatingSystem": {"templateFileId": "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"},
    }
    props.update(overrides)
    return props


def test_a_container_within_its_plan_passes_every_guest_rule(run_resource_policy) -> None:
    for rule in VM_RULES:
        assert run_resource_policy(rule, CT_TYPE, _container_props()) == [], rule


def test_a_container_over_its_plan_is_refused(run_resource_policy) -> None:
    props = _container_props(cpu={"cores": 3}, memory={"dedicated": 8192}, disk={"size": 41})
    found = run_resource_policy(q.VM_WITHIN_PLAN, CT_TYPE, props, name="ct")
    assert [m.split(" exceeds")[0] for _, m, _ in found] == [
        "VM ct: cpu.cores = 3",
        "VM ct: memory.dedicated = 8192 MB",
        "VM ct: disks[0].size = 41 GB",
    ]
    assert run_resource_policy(q.VM_TENANT_POOL, CT_TYPE, _container_props(poolId="elsewhere"))


def test_containers_count_against_the_server_quota_and_need_a_firewall(run_stack_policy) -> None:
    parent = tenant("acme")
    containers = [stack_resource(CT_TYPE, f"acme-s{i}-ct", _container_props(vmId=UNKNOWN), parent) for i in range(2)]
    found = run_stack_policy(q.TENANT_SERVER_QUOTA, [parent, *containers])
    assert [m for _, m, _ in found] == ["tenant acme: 2 servers exceed plan 'starter' limit of 1 (max_servers)"]
    unprotected = run_stack_policy(q.VM_FIREWALL, [parent, containers[0]])
    assert [p for p, _, _ in unprotected] == [q.VM_FIREWALL]
    assert (
        run_stack_policy(q.VM_FIREWALL, [parent, containers[0], firewall("acme-s0-ct-firewall", containers[0])]) == []
    )
