"""Laws of the pure rules, stated with Hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from components.spec.plans import Plan
from policies import quotas as q
from policies.views import UNKNOWN_SENTINELS, VmView, vm_view

LIMITS = st.builds(
    Plan,
    name=st.just("p"),
    cores=st.integers(1, 64),
    memory_mb=st.integers(512, 1 << 20),
    disk_gb=st.integers(1, 4096),
    max_servers=st.integers(1, 50),
)
MAYBE = st.one_of(st.none(), st.integers(0, 1 << 21))


@given(LIMITS, MAYBE, MAYBE, MAYBE)
def test_within_plan_fires_exactly_for_known_values_over_the_limit(plan: Plan, cores, mem, disk) -> None:
    vm = VmView("vm", tags=("dokploy-cloud", "tenant-t", "plan-p"), cores=cores, memory_mb=mem, disk_gb=disk)
    found = q.vm_within_plan(vm, {"p": plan})
    expected = sum(
        v is not None and v > lim for v, lim in ((cores, plan.cores), (mem, plan.memory_mb), (disk, plan.disk_gb))
    )
    assert len(found) == expected and all(v.policy == q.VM_WITHIN_PLAN for v in found)


@given(LIMITS)
def test_a_vm_sized_exactly_to_its_plan_passes_every_rule(plan: Plan) -> None:
    vm = VmView(
        "vm",
        tags=("dokploy-cloud", "tenant-t", "plan-p"),
        cores=plan.cores,
        memory_mb=plan.memory_mb,
        disk_gb=plan.disk_gb,
        pool_id="dokploy-prod",
    )
    assert q.vm_within_plan(vm, {"p": plan}) == q.below_plan(vm, {"p": plan}) == []
    assert q.tenant_tags(vm) == q.tenant_pool(vm, ["dokploy-prod"]) == []


@given(LIMITS, st.integers(0, 60))
def test_server_quota_is_monotone(plan: Plan, count: int) -> None:
    refused = bool(q.server_quota("t", "p", count, {"p": plan}))
    assert refused == (count > plan.max_servers)


@given(st.sampled_from(sorted(UNKNOWN_SENTINELS)))
def test_unknown_everywhere_means_nothing_to_check(unknown: str) -> None:
    props = {
        "tags": unknown,
        "cpu": unknown,
        "memory": {"dedicated": unknown},
        "disks": [{"size": unknown}],
        "clone": {"vmId": unknown},
        "poolId": unknown,
    }
    vm = vm_view("vm", props)
    plans = {"p": Plan("p", 1, 1024, 1, 1)}
    assert vm == VmView("vm")
    assert q.vm_within_plan(vm, plans) + q.template_allowed(vm, []) + q.tenant_tags(vm) + q.tenant_pool(vm, ["p"]) == []


LABEL = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)


@given(st.lists(LABEL, min_size=1, max_size=3), st.lists(LABEL, min_size=1, max_size=3))
def test_hostname_in_zone_accepts_exactly_names_under_the_zone(host: list[str], zone: list[str]) -> None:
    zone_name = ".".join(zone)
    inside = ".".join(host + zone) + "."
    assert q.hostname_in_zone(inside, zone_name, zone_name) == []
    other = ".".join(host) + ".example"
    under = other == zone_name or other.endswith("." + zone_name)
    assert bool(q.hostname_in_zone(other + ".", None, zone_name)) == (not under)
