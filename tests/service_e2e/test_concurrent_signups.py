"""Many signups at once through one service: every tenant reaches ready, alone in its VM, record and server.

Twenty at once, across two worker hosts, is ``test_scale_out.py`` (also in the default run)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.service_e2e.harness import EngineCloud, EngineService, new_signup
from tests.service_e2e.observe import footprint, unowned_vms

pytestmark = pytest.mark.engine


def test_concurrent_signups_all_reach_ready(service: EngineService, engine_cloud: EngineCloud) -> None:
    count, workers = 5, 4
    bodies = [new_signup("many") for _ in range(count)]
    for body in bodies:
        engine_cloud.add_organization(body)
    service.start_worker_threads(workers)
    with ThreadPoolExecutor(count) as pool:
        accepted = list(pool.map(service.signup, bodies))
    assert [r.status_code for r in accepted] == [202] * count

    jobs = [service.wait_job(r.json()["job_id"], timeout=120 + 30 * count) for r in accepted]
    assert [(j["slug"], j["state"], j["error"]) for j in jobs] == [(b["slug"], "succeeded", None) for b in bodies]
    seen = [footprint(engine_cloud, b["slug"], b["organization_id"]) for b in bodies]
    assert [f.counts() for f in seen] == [(1, 1, 1)] * count
    assert all(f.vms[0].agent_ready and f.servers[0]["installed"] for f in seen)
    vmids = [f.vms[0].vmid for f in seen]
    addresses = [f.addresses[0] for f in seen]
    assert len(set(vmids)) == count and len(set(addresses)) == count
    assert all(service.tenant(b["slug"])["phase"] == "ready" for b in bodies)
    assert unowned_vms(engine_cloud) == []
