"""The reconcile rules on hand-made inventories: what each class catches, and what it must not guess."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from components.naming import server_marker
from providers.dokploy_server_rules import tag
from provisioning.dokploy_keys import key_name
from provisioning.reconcile.classify import classify
from provisioning.reconcile.inventory import stack_view
from provisioning.reconcile.model import (
    ApiKeyRow,
    DeclaredTenant,
    DnsRow,
    DokployKeyRow,
    DokployServerRow,
    Inventory,
    ProxmoxVm,
    RegionRange,
    Report,
    StackDns,
    StackDokploy,
    StackView,
    StackVm,
)

NOW = 1_800_000_000.0
REGION = RegionRange("eu", 10000, 19999, "dokploy-local", "10.77.0.0/16", 10)


def _vm(vmid: int = 10001, **changes: object) -> ProxmoxVm:
    base = ProxmoxVm(
        "eu",
        vmid,
        "pve1",
        "acme-1-ab",
        "running",
        frozenset({"dokploy-cloud", "tenant-acme", "plan-starter"}),
        "dokploy-local",
        None,
        2,
        4096,
        False,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _in_sync() -> Inventory:
    """One tenant, one server, everything agreeing."""
    inv = Inventory("local", "cloud.test", [REGION])
    inv.declared["acme"] = DeclaredTenant("acme", "starter", "eu", 1, "org_acme", False, "git", 2, 4096)
    inv.stacks["acme"] = StackView(
        "acme",
        False,
        [StackVm(0, 10001, "pve1", True, 2, 4096)],
        [StackDns("acme.cloud.test.", "A", ("10.77.0.11",))],
        [StackDokploy(0, "srv1", "key1", "org_acme")],
    )
    inv.vms = [_vm(), _vm(9000, template=True, tags=frozenset(), pool=None)]
    inv.regions_read = {"eu"}
    marker = tag(server_marker("local", "acme", 0, "ab"))
    inv.dokploy_servers = [
        DokployServerRow("org_acme", "srv1", "acme-1", f"x {marker}", "10.77.0.11", "active", "key1"),
        DokployServerRow("org_acme", "own", "tenant's own", "added by the tenant", "203.0.113.5", "active", None),
    ]
    inv.dokploy_keys = [DokployKeyRow("org_acme", "key1", "acme-s0", marker)]
    inv.organizations_read = {"org_acme"}
    inv.dns = [DnsRow("acme.cloud.test.", "A", ("10.77.0.11",))]
    inv.api_keys = [ApiKeyRow("k1", "platform"), ApiKeyRow("k2", key_name("local", NOW - 60))]
    inv.orphan_allocations = []
    return inv


def _classes(report: Report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report.findings:
        out.setdefault(f.cls, []).append(f.subject)
    return out


def test_agreeing_inventories_are_in_sync() -> None:
    report = classify(_in_sync(), now=NOW)
    assert report.in_sync and report.exit_status() == 0
    assert report.tenants == {"acme": "in sync"}


def test_drift_stopped_resized_and_missing_pieces() -> None:
    inv = _in_sync()
    inv.vms[0] = _vm(status="stopped", cores=4, memory_mb=8192)
    inv.dns = []
    inv.dokploy_servers = inv.dokploy_servers[1:]
    report = classify(inv, now=NOW)
    [vm, *rest] = [f for f in report.findings if f.subject.startswith("VM")]
    assert not rest and vm.cls == "drift"
    assert "stopped; the stack has it started" in vm.detail and "4 cores" in vm.detail and "8192 MiB" in vm.detail
    assert sorted(_classes(report)["drift"]) == [
        "DNS A acme.cloud.test.",
        "Dokploy server srv1 (server 0)",
        "VM 10001 (server 0)",
    ]
    assert report.tenants == {"acme": "drift"} and report.exit_status() == 1


def test_a_suspended_tenants_stopped_vm_is_in_sync_and_a_running_one_drifts() -> None:
    inv = _in_sync()
    inv.stacks["acme"].vms[0] = StackVm(0, 10001, "pve1", False, 2, 4096)
    inv.vms[0] = _vm(status="stopped")
    assert classify(inv, now=NOW).in_sync
    inv.vms[0] = _vm(status="running")
    [finding] = classify(inv, now=NOW).findings
    assert "running; the stack has it stopped (tenant suspended)" in finding.detail


def test_unread_inventories_make_no_findings_about_what_they_hold() -> None:
    inv = _in_sync()
    inv.vms, inv.regions_read = [], set()
    inv.dokploy_servers, inv.organizations_read = [], set()
    inv.dns = None
    inv.errors = ["Proxmox eu: ConnectionError: refused"]
    report = classify(inv, now=NOW)
    assert report.findings == [] and report.exit_status() == 2 and not report.in_sync


def test_a_running_update_hides_its_work_in_progress_and_blocks_fixes() -> None:
    inv = _in_sync()
    inv.stacks["acme"].locked = True
    inv.vms.append(_vm(10002, name="acme-2-ab"))  # being cloned by the update
    inv.dns = []
    marker = tag(server_marker("local", "acme", 1, "ab"))
    inv.dokploy_servers.append(DokployServerRow("org_acme", "srv2", "acme-2", marker, "10.77.0.12", "active", "k2"))
    inv.dokploy_keys.append(DokployKeyRow("org_acme", "k2", "acme-s1", marker))
    report = classify(inv, now=NOW)
    assert report.findings == [] and report.tenants == {"acme": "update running"}
    inv.stacks["acme"].locked = None  # a backend whose locks cannot be read: reported, never fixed
    report = classify(inv, now=NOW)
    [orphan] = [f for f in report.findings if f.cls == "orphan-vm"]
    assert not orphan.fixable and "lock cannot be read" in orphan.detail


def test_orphan_vm_is_fixable_only_with_tags_pool_and_range() -> None:
    inv = _in_sync()
    inv.vms += [
        _vm(10005, name="acme-5-x"),
        _vm(10006, tags=frozenset()),  # in our range, no tags
        _vm(10007, pool="elsewhere"),
        _vm(50000, region="eu"),  # our tags outside the range
        _vm(60000, tags=frozenset(), pool=None),  # someone else's VM: not ours at all
        _vm(10008, lock="backup"),
    ]
    found = {f.subject.split()[1]: f for f in classify(inv, now=NOW).findings}
    assert set(found) == {"10005", "10006", "10007", "50000", "10008"}
    assert found["10005"].fixable and found["10005"].target["slug"] == "acme"
    for vmid, gap in (
        ("10006", "'dokploy-cloud' tag"),
        ("10007", "pool is"),
        ("50000", "outside"),
        ("10008", "locked"),
    ):
        assert not found[vmid].fixable and gap in found[vmid].detail, vmid


def test_orphan_dokploy_rows_need_our_marker_of_this_environment() -> None:
    inv = _in_sync()
    stray = tag(server_marker("local", "acme", 1, "zz"))
    other_env = tag(server_marker("prod", "acme", 0, "ab"))
    inv.dokploy_servers += [
        DokployServerRow("org_acme", "srv2", "acme-2", stray, "10.77.0.12", "active", "key2"),
        DokployServerRow("org_acme", "srv3", "acme-1", other_env, "10.77.0.13", "active", None),
    ]
    inv.dokploy_keys += [
        DokployKeyRow("org_acme", "key2", "acme-s1", stray),  # used by the orphan server: not an orphan key
        DokployKeyRow("org_acme", "key3", "acme-s1", tag(server_marker("local", "acme", 1, "yy"))),
        DokployKeyRow("org_acme", "key4", "tenant key", "no marker"),
    ]
    classes = _classes(classify(inv, now=NOW))
    assert classes == {
        "orphan-dokploy-server": ["Dokploy server srv2 (acme-2, 10.77.0.12)"],
        "orphan-ssh-key": ["Dokploy SSH key key3 (acme-s1)"],
    }


def test_dangling_dns_is_deleted_only_inside_a_tenant_network() -> None:
    inv = _in_sync()
    assert inv.dns is not None
    inv.dns += [
        DnsRow("old.cloud.test.", "A", ("10.77.3.4",)),
        DnsRow("ns1.cloud.test.", "A", ("10.77.0.2",)),  # reserved infrastructure address
        DnsRow("www.cloud.test.", "A", ("192.0.2.1",)),
    ]
    found = {f.subject: f.fixable for f in classify(inv, now=NOW).findings}
    assert found == {"DNS A old.cloud.test.": True, "DNS A ns1.cloud.test.": False, "DNS A www.cloud.test.": False}


def test_leaked_keys_are_this_environments_run_keys_older_than_any_run() -> None:
    inv = _in_sync()
    assert inv.api_keys is not None
    inv.api_keys += [
        ApiKeyRow("old", key_name("local", NOW - 5 * 3600)),
        ApiKeyRow("other-env", key_name("prod", NOW - 5 * 3600)),
    ]
    assert _classes(classify(inv, now=NOW)) == {
        "leaked-api-key": [f"Dokploy API key {key_name('local', NOW - 5 * 3600)}"]
    }


def test_declarations_and_stacks_must_match() -> None:
    inv = _in_sync()
    inv.declared["beta"] = DeclaredTenant("beta", "starter", "eu", 1, "org_beta", False, "service", 2, 4096)
    inv.stacks["gone"] = StackView("gone", False)
    report = classify(inv, now=NOW)
    assert _classes(report) == {"stack-without-tenant": ["stack local.gone"], "tenant-without-stack": ["tenant beta"]}
    undeclared = next(f for f in report.findings if f.cls == "stack-without-tenant")
    assert not undeclared.fixable and "SERVICE_DATABASE_URL" in undeclared.detail
    inv.service_tenants_read = True
    undeclared = next(f for f in classify(inv, now=NOW).findings if f.cls == "stack-without-tenant")
    assert "SERVICE_DATABASE_URL" not in undeclared.detail


def test_pending_operations_make_a_stack_busy() -> None:
    deployment = {"resources": [], "pending_operations": [{"type": "creating", "resource": {}}]}
    assert stack_view("acme", deployment, False).locked is True
    assert stack_view("acme", {"resources": []}, False).locked is False
    assert stack_view("acme", {"resources": []}, None).locked is None


@given(st.lists(st.sampled_from(["stopped", "running"]), min_size=1, max_size=4), st.booleans())
def test_report_round_trips_through_json(statuses: list[str], started: bool) -> None:
    inv = _in_sync()
    inv.stacks["acme"].vms = [StackVm(i, 10001 + i, "pve1", started, 2, 4096) for i in range(len(statuses))]
    inv.vms = [_vm(10001 + i, status=s) for i, s in enumerate(statuses)]
    report = classify(inv, now=NOW)
    again = Report.from_json(report.to_json())
    assert again.to_json() == report.to_json()
    drifted = sum(1 for s in statuses if (s == "running") != started)
    assert len(report.findings) == drifted
