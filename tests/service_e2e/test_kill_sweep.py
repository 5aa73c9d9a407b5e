"""Systematic kill points: every operation, killed right after each resource event the engine reports.

For each operation (:func:`tests.service_e2e.sweep.operations`) a census run counts the engine's resource events
(a step starting, finishing or failing). Then, for each k, a fresh tenant is brought to where the operation
starts, a worker process runs the operation's job with ``DOKPLOY_CLOUD_FAILPOINT=<op>:<k>`` and SIGKILLs itself
and its engine processes right after the k-th event, and a new worker process takes the job over once the
lease lapses. Every point must converge: the job succeeds, the tenant holds exactly what its declaration says
(one VM, DNS record, Dokploy server and key per server, the plan's size, the declared power state), nothing is
orphaned (VMs without a stack, allocations without a VM), nothing is duplicated. A key rotation must also leave
Dokploy able to log in to every server at the moment of the kill, and end with the servers accepting only the
new key Dokploy holds.

``KILL_SWEEP=all`` sweeps every k; the default sweeps the first and the last event and every second event of a
step that changes something (create, update, delete, replace), so every operation's first, middle and last
steps, and the steps that matter in an upgrade, a suspend and a resume (the VM's update), are killed at.
The table is printed at the end and written to ``.state/kill-sweep-report.json``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.failpoints import FAILPOINT_VAR, TRACE_VAR, trace_lines
from provisioning.toolchain import PROJECT_DIR
from tests.service.harness import wait_for
from tests.service_e2e.harness import EngineCloud, EngineService, new_signup, session_members, start_cloud
from tests.service_e2e.killpoints import SUMMARY
from tests.service_e2e.sweep import (
    SweepOperation,
    SweepRecord,
    describe_recovery,
    describe_step,
    dokploy_logins,
    operations,
    run_here,
    violations,
    write_sweep_report,
)

pytestmark = pytest.mark.engine
REPORT = PROJECT_DIR / ".state" / "kill-sweep-report.json"
WARM_REGION = "pve-us1"


@pytest.fixture(scope="module")
def sweep_report() -> Iterator[list[SweepRecord]]:
    records: list[SweepRecord] = []
    yield records
    if records:
        SUMMARY.extend(write_sweep_report(records, REPORT))


def _with_warm_pool(env: dict[str, Any]) -> None:
    env["regions"][WARM_REGION]["warm_pool"] = {"size": 1, "plan": "starter"}
    env["warm_pool_organization"] = "org_warm_pool"


@pytest.fixture(scope="module")
def engine_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineCloud]:
    """The local cloud with a warm pool of one starter VM in ``WARM_REGION`` (the other region stays cold), its
    nodes big enough for every tenant the sweep leaves behind."""
    cloud = start_cloud(tmp_path_factory.mktemp("sweep-cloud"), tweak=_with_warm_pool, node_mem_gib=1024)
    try:
        yield cloud
    finally:
        cloud.stop()


def _operations(cloud: EngineCloud) -> dict[str, SweepOperation]:
    plans = {name: plan.memory_mb for name, plan in cloud.environment.plans.items()}
    return {op.name: op for op in operations(plans, WARM_REGION)}


def _points(events: list[dict[str, Any]]) -> list[int]:
    """Every k (``KILL_SWEEP=all``); by default the first, the last, and every second step that changes something
    (create, update, delete, replace: steps the engine only compares, ``same``, are left out)."""
    count = len(events)
    if os.environ.get("KILL_SWEEP") == "all":
        return list(range(1, count + 1))
    changing = [k for k, e in enumerate(events, 1) if e["op"] not in ("same", "read", "refresh")]
    return sorted({1, count, *changing[::2]})


def census(service: EngineService, operation: SweepOperation, trace: Path) -> list[dict[str, Any]]:
    """Run the operation once, undisturbed, in this process; the resource events of its engine operation."""
    body = new_signup(f"cs{operation.name[:3]}") | operation.signup_fields
    service.cloud.add_organization(body)
    operation.prepare(service, body)
    job_id = operation.submit(service, body)
    os.environ[TRACE_VAR] = str(trace)
    try:
        run_here(service, job_id)
    finally:
        del os.environ[TRACE_VAR]
    return [e for e in trace_lines(trace) if e["operation"] == operation.engine_operation]


def kill_at(
    service: EngineService, cloud: EngineCloud, operation: SweepOperation, k: int, of: int, trace: Path
) -> SweepRecord:
    """One point: prepare a tenant, kill its operation's worker after event k, recover, check."""
    body = new_signup(f"k{operation.name[:3]}") | operation.signup_fields
    cloud.add_organization(body)
    operation.prepare(service, body)
    job_id = operation.submit(service, body)
    doomed = service.start_worker_process(
        f"doomed-{operation.name}-{k}",
        extra_env={FAILPOINT_VAR: f"{operation.engine_operation}:{k}", TRACE_VAR: str(trace)},
    )
    wait_for(
        lambda: doomed.proc.poll() is not None or service.job(job_id)["state"] not in ("queued", "running"),
        180,
        f"the worker to die at {operation.name} event {k}",
    )
    assert doomed.proc.poll() is not None, f"{operation.name} ended before event {k}: {service.job(job_id)}"
    # SIGKILLed processes die asynchronously: give the kernel a moment before calling any a survivor
    wait_for(lambda: not session_members(doomed.proc.pid), 10, "the killed worker's engine processes to die")
    events = [e for e in trace_lines(trace) if e["operation"] == operation.engine_operation]
    at_kill = dokploy_logins(cloud, body["organization_id"]) if operation.expected.rotated else []
    started = time.monotonic()
    survivor = service.start_worker_process(f"survivor-{operation.name}-{k}")
    try:
        job = service.wait_job(job_id)
        settled = time.monotonic() - started
        broken, seen = violations(cloud, service, body, job, operation.expected)
        broken += [f"at the kill, Dokploy could not log in: {failure}" for failure in at_kill]
        recovery = describe_recovery(survivor.recovery_reports())
    finally:
        survivor.stop()
    return SweepRecord(
        operation.name,
        k,
        of,
        describe_step(events[k - 1] if len(events) >= k else None),
        recovery,
        int(job["attempts"]),
        round(settled, 1),
        f"{len(seen.vms)}/{len(seen.addresses)}/{len(seen.servers)}/{seen.ssh_keys}",
        broken,
    )


@pytest.mark.parametrize(
    "name", ["signup", "warm-claim", "upgrade", "suspend", "resume", "decommission", "rotate-keys"]
)
def test_every_kill_point_converges(
    name: str, engine_cloud: EngineCloud, service: EngineService, sweep_report: list[SweepRecord], tmp_path: Path
) -> None:
    operation = _operations(engine_cloud)[name]
    events = census(service, operation, tmp_path / "census.jsonl")
    assert events, f"{name} produced no resource events"
    records = []
    for k in _points(events):
        record = kill_at(service, engine_cloud, operation, k, len(events), tmp_path / f"trace-{k}.jsonl")
        records.append(record)
        sweep_report.append(record)
    broken = [f"{r.operation} k={r.k} ({r.step}): {'; '.join(r.broken)}" for r in records if not r.ok]
    assert not broken, "\n".join(broken)
