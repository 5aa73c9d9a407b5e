"""Scale-out: two worker hosts share only PostgreSQL (queue, allocations, Pulumi state).

Each worker process runs from a directory of its own (tests/service_e2e/hosts.py). Twenty signups
arrive at once; both hosts take jobs. Every tenant gets its own VM id and address (one allocation
store, not one per host), and every stack's state can be read from either host's directory.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ipam.store import open_store
from provisioning.allocations import recorded_allocations
from tests.service.pg import Cluster
from tests.service_e2e.harness import EngineCloud, EngineService, new_signup
from tests.service_e2e.hosts import Host
from tests.service_e2e.observe import footprint

pytestmark = pytest.mark.engine
SIGNUPS, HOSTS, CONCURRENCY = 20, 2, 4


def test_two_hosts_share_queue_allocations_and_state(
    engine_cloud: EngineCloud, pg_cluster: Cluster, tmp_path: Path
) -> None:
    queue_url = pg_cluster.create_database(f"queue_{uuid.uuid4().hex[:8]}")
    state_url = (
        pg_cluster.create_database(f"state_{uuid.uuid4().hex[:8]}").replace("postgresql://", "postgres://", 1)
        + "?sslmode=disable"
    )
    service = EngineService.start(engine_cloud, tmp_path / "api", queue_url)
    credentials = {k: v for k, v in engine_cloud.env.items() if k.endswith(("_TOKEN", "_KEY"))}
    environment_file = Path(engine_cloud.env["DOKPLOY_CLOUD_ENV_FILE"])
    hosts = [Host.create(f"host{n}", tmp_path / f"host{n}", environment_file) for n in range(HOSTS)]

    def settings(host: Host) -> dict[str, str]:  # no ALLOCATIONS_DB: the queue's database is the store
        return {
            **service.env,
            **credentials,
            "SERVICE_DATABASE_URL": queue_url,
            "PULUMI_BACKEND_URL": state_url,
            "PULUMI_CONFIG_PASSPHRASE": engine_cloud.env["PULUMI_CONFIG_PASSPHRASE"],
            "DOKPLOY_CLOUD_ENV_FILE": str(host.root / environment_file.name),
            "SERVICE_CONCURRENCY": str(CONCURRENCY),
        }

    try:
        workers = [host.start_workers(settings(host)) for host in hosts]
        for worker in workers:
            worker.wait_started()
        bodies = [new_signup("so") for _ in range(SIGNUPS)]
        for body in bodies:
            engine_cloud.add_organization(body)
        with ThreadPoolExecutor(SIGNUPS) as pool:
            accepted = list(pool.map(service.signup, bodies))
        assert [r.status_code for r in accepted] == [202] * SIGNUPS, [r.text for r in accepted]
        jobs = [service.wait_job(r.json()["job_id"], timeout=900) for r in accepted]
        assert [(j["slug"], j["state"], j["error"]) for j in jobs] == [(b["slug"], "succeeded", None) for b in bodies]
    finally:
        service.stop()
        for worker in locals().get("workers", []):
            worker.stop()

    slugs = [b["slug"] for b in bodies]
    ran_on = {
        host.name: set(re.findall(r"worker \S+: up (\S+) \(attempt", (host.root / "worker.log").read_text()))
        for host in hosts
    }
    assert all(ran_on.values()), f"each host should have taken jobs: {ran_on}"

    rows = [a for a in open_store(queue_url).everything() if a.owner.split("/")[0] in slugs]
    assert sorted(a.owner for a in rows) == sorted(f"{slug}/0" for slug in slugs)
    assert len({(a.pool, a.vmid) for a in rows}) == SIGNUPS and len({(a.pool, a.address) for a in rows}) == SIGNUPS
    seen = {b["slug"]: footprint(engine_cloud, b["slug"], b["organization_id"]) for b in bodies}
    assert {s: f.counts() for s, f in seen.items()} == dict.fromkeys(slugs, (1, 1, 1))
    assert {s: f.vms[0].vmid for s, f in seen.items()} == {a.owner.split("/")[0]: a.vmid for a in rows}
    assert {s: f.addresses[0] for s, f in seen.items()} == {a.owner.split("/")[0]: a.address for a in rows}

    for host in hosts:
        workspace = host.workspace(settings(host))

        def exported(slug: str, workspace=workspace) -> dict:
            return workspace.export_stack(f"local.{slug}").deployment

        with ThreadPoolExecutor(4) as pool:
            states = dict(zip(slugs, pool.map(exported, slugs), strict=True))
        assert {s: recorded_allocations(d) for s, d in states.items()} == {
            a.owner.split("/")[0]: {(a.pool, a.owner)} for a in rows
        }, f"state as {host.name} reads it"
