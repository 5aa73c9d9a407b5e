"""Fleet reconciliation on a local cloud, through the real engine and the simulators' HTTP APIs.

In sync after up; then out-of-band changes an operator or a bug could make (a Dokploy server deleted, a VM
stopped, a DNS record deleted, a stray record, a VM cloned with our tags outside any stack, a leaked run key),
each reported in its class; ``--fix`` per class brings the fleet back to in sync, with audit records.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from clients.dokploy.client import DokployClient
from clients.powerdns import PowerDNSClient
from clients.proxmox import client_from_env
from clients.proxmox_tasks import wait_task
from provisioning.dokploy_keys import key_name, platform_client
from provisioning.fleet_db import FleetDatabase, fleet_location
from provisioning.stacks import region_variables
from provisioning.toolchain import PROJECT_DIR
from scripts import cloudctl
from tests.e2e.conftest import CloudUnderTest

pytestmark = pytest.mark.engine


def _run(capsys: pytest.CaptureFixture[str], cloud: CloudUnderTest, *args: str) -> tuple[int, str]:
    code = cloudctl.main(["--env", "local", "--tenants-dir", str(cloud.tenants_dir), *args])
    return code, capsys.readouterr().out


def _report(capsys: pytest.CaptureFixture[str], cloud: CloudUnderTest) -> tuple[int, dict]:
    code, out = _run(capsys, cloud, "reconcile", "--json")
    return code, json.loads(out[out.index("{") :])


def _classes(report: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in report["findings"]:
        found.setdefault(f["cls"], []).append(f["subject"])
    return found


def test_reconcile_reports_each_class_and_fix_converges(
    local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, env = local_cloud, local_cloud.stacks.environment
    code, out = _run(capsys, cloud, "up", "--parallel", "3")
    assert code == 0, out

    code, report = _report(capsys, cloud)
    assert code == 0 and report["in_sync"], report
    assert set(report["tenants"].values()) == {"in sync"} and len(report["tenants"]) == 3
    assert report["counts"]["dokploy_servers"] == 4 and report["counts"]["stacks"] == 3

    secrets = cloud.stacks.secrets()
    eu = client_from_env(env={**os.environ, **secrets, **region_variables(env.regions["pve-eu1"])})
    us = client_from_env(env={**os.environ, **secrets, **region_variables(env.regions["pve-us1"])})
    alpha = cloud.stacks.workspace().stack_outputs("local.alpha")
    bravo = cloud.stacks.workspace().stack_outputs("local.bravo")
    charlie = cloud.stacks.workspace().stack_outputs("local.charlie")

    # Out of band, through the real APIs: Dokploy server of alpha removed (with an org key of the platform user).
    platform = platform_client(env.dokploy_url, secrets["DOKPLOY_API_KEY"])
    created = platform.create_api_key("operator-by-hand", "org_alpha", rate_limit_enabled=False, expires_in=86400)
    DokployClient(env.dokploy_url, str(created["key"])).server_remove(alpha["dokployServerIds"].value[0])
    platform.delete_api_key(str(created["id"]))
    # charlie's VM stopped.
    [charlie_vm] = charlie["vmIds"].value
    wait_task(us, us.nodes(charlie["nodes"].value[0]).qemu(charlie_vm).status.stop.post(), timeout=60, what="stop")
    # bravo's second DNS record deleted, and a stray record pointing into the tenant network.
    dns = PowerDNSClient(env.dns_api_url, secrets["PDNS_API_KEY"])
    dns.delete_rrset("cloud.test.", f"{bravo['hostnames'].value[1]}.", "A")
    dns.replace_rrset("cloud.test.", "stray.cloud.test.", "A", 60, ["10.77.9.9"])
    dns.replace_rrset("cloud.test.", "www.cloud.test.", "A", 60, ["192.0.2.10"])  # not ours: reported, left alone
    # A VM cloned with our tags outside any stack.
    wait_task(
        eu,
        eu.nodes("pve1").qemu(9000).clone.post(newid=10900, name="alpha-9-stray", pool="dokploy-local"),
        timeout=60,
        what="clone",
    )
    eu.nodes("pve1").qemu(10900).config.put(tags="dokploy-cloud;tenant-alpha;plan-starter")
    # A per-run key left by a run that died hours ago.
    leaked = platform.create_api_key(
        key_name("local", time.time() - 5 * 3600), "org_bravo", rate_limit_enabled=False, expires_in=86400
    )

    code, report = _report(capsys, cloud)
    assert code == 1
    classes = _classes(report)
    assert sorted(classes["drift"]) == sorted(
        [
            f"DNS A {bravo['hostnames'].value[1]}.",
            f"Dokploy server {alpha['dokployServerIds'].value[0]} (server 0)",
            f"VM {charlie_vm} (server 0)",
        ]
    )
    assert classes["orphan-vm"] == ["VM 10900 alpha-9-stray"]
    assert sorted(classes["dangling-dns"]) == ["DNS A stray.cloud.test.", "DNS A www.cloud.test."]
    assert classes["leaked-api-key"] == [f"Dokploy API key {leaked['name']}"]
    assert report["tenants"]["alpha"].startswith("drift") and "orphan-vm" in report["tenants"]["alpha"]
    by_subject = {f["subject"]: f for f in report["findings"]}
    assert not by_subject["DNS A www.cloud.test."]["fixable"]
    assert "stopped; the stack has it started" in by_subject[f"VM {charlie_vm} (server 0)"]["detail"]

    # Reading changed nothing: the stray VM, the records and the stopped VM are all still there.
    assert eu.nodes("pve1").qemu(10900).status.current.get()["status"] == "stopped"
    assert dns.get_rrset("cloud.test.", "stray.cloud.test.", "A") is not None

    code, out = _run(capsys, cloud, "reconcile", "--fix", "stack-without-tenant")
    assert code == 2 and "reported only" in out

    for cls in ("drift", "orphan-vm", "dangling-dns", "leaked-api-key"):
        code, out = _run(capsys, cloud, "reconcile", "--fix", cls)
        assert "fixed" in out, out

    code, report = _report(capsys, cloud)
    assert _classes(report) == {"dangling-dns": ["DNS A www.cloud.test."]}, report
    assert us.nodes(charlie["nodes"].value[0]).qemu(charlie_vm).status.current.get()["status"] == "running"
    assert dns.get_rrset("cloud.test.", f"{bravo['hostnames'].value[1]}.", "A") is not None
    assert not any(int(vm["vmid"]) == 10900 for vm in eu.cluster.resources.get(type="vm"))
    archives = eu.nodes("pve1").storage("nfs-backup").content.get(content="backup", vmid=10900)
    assert len(archives) == 1 and "reason=orphan" in archives[0]["notes"] and archives[0]["protected"]

    dns.delete_rrset("cloud.test.", "www.cloud.test.", "A")
    code, out = _run(capsys, cloud, "reconcile")
    assert code == 0 and "in sync" in out

    events = FleetDatabase(fleet_location(cloud.stacks.allocations_location(), "local"), "local").events(
        action="reconcile.fix"
    )
    fixed = sorted((e.action, e.tenant or "-") for e in events if e.outcome == "fixed")
    assert fixed == [
        ("reconcile.fix.dangling-dns", "-"),
        ("reconcile.fix.drift", "alpha"),
        ("reconcile.fix.drift", "bravo"),
        ("reconcile.fix.drift", "charlie"),
        ("reconcile.fix.leaked-api-key", "-"),
        ("reconcile.fix.orphan-vm", "alpha"),
    ]
    assert all(e.actor.startswith("cloudctl:") for e in events)
    code, out = _run(capsys, cloud, "audit", "--action", "reconcile.fix", "--json")
    assert code == 0 and len(out.strip().splitlines()) == len(events)


def test_a_fix_killed_mid_archive_converges_with_one_archive(
    local_cloud: CloudUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL ``reconcile --fix orphan-vm`` while its vzdump runs: nothing is deleted; the next fix archives
    once more, keeps exactly one archive of the VM, deletes it, and the trail shows both attempts."""
    cloud, env = local_cloud, local_cloud.stacks.environment
    secrets = cloud.stacks.secrets()
    eu = client_from_env(env={**os.environ, **secrets, **region_variables(env.regions["pve-eu1"])})
    wait_task(
        eu,
        eu.nodes("pve2").qemu(9001).clone.post(newid=10901, name="bravo-7-stray", pool="dokploy-local"),
        timeout=60,
        what="clone",
    )
    eu.nodes("pve2").qemu(10901).config.put(tags="dokploy-cloud;tenant-bravo;plan-business")
    backend = cloud.cloud.proxmox["pve-eu1"][0].backend
    durations = backend.settings.durations
    durations.set_speed(1.0)
    durations.table = dict.fromkeys(durations.table, 0.0) | {"vzdump": 6.0}
    try:
        proc = subprocess.Popen(
            [
                "scripts/cloudctl",
                "--env",
                "local",
                "--tenants-dir",
                str(cloud.tenants_dir),
                "reconcile",
                "--fix",
                "orphan-vm",
            ],
            cwd=PROJECT_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def dumping() -> bool:
            with backend.lock:
                return any(t.ttype == "vzdump" and t.tid == "10901" for t in backend.running.values())

        deadline = time.monotonic() + 120
        while not dumping():
            assert proc.poll() is None and time.monotonic() < deadline, "the fix never started its backup"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        time.sleep(6.5)  # the orphaned vzdump finishes on its own, as on a real node
    finally:
        durations.set_speed("fast")
    assert any(int(vm["vmid"]) == 10901 for vm in eu.cluster.resources.get(type="vm")), "nothing deleted yet"

    code, out = _run(capsys, cloud, "reconcile", "--fix", "orphan-vm")
    assert code == 0 and "fixed" in out, out
    assert not any(int(vm["vmid"]) == 10901 for vm in eu.cluster.resources.get(type="vm"))
    archives = eu.nodes("pve2").storage("nfs-backup").content.get(content="backup", vmid=10901)
    assert len(archives) == 1 and "reason=orphan" in archives[0]["notes"], archives
    events = FleetDatabase(fleet_location(cloud.stacks.allocations_location(), "local"), "local").events(
        action="reconcile.fix.orphan-vm", tenant="bravo"
    )
    assert [e.outcome for e in events] == ["fixed", "started", "started"]  # newest first: killed run, then retry
