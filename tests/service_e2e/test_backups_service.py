"""Backups through the service's operator API and workers, on the real engine: back up, list, protect,
a restore refused while the server runs and then done in place, decommission with its archive date as the
tenant's status, the archive listed, undelete back to ready with the same VM id."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.service_e2e.harness import EngineCloud, EngineService, new_signup

pytestmark = pytest.mark.engine


def _job(service: EngineService, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    job: dict[str, Any] = service.wait_job(response.json()["job_id"])
    return job


def test_backup_restore_decommission_undelete_over_http(service: EngineService, engine_cloud: EngineCloud) -> None:
    body = new_signup("safe")
    slug = body["slug"]
    engine_cloud.add_organization(body)
    service.start_worker_threads(1)
    ready = _job(service, service.signup(body))
    assert ready["state"] == "succeeded", ready["error"]
    vmids = service.tenant(slug)["outputs"]["vmIds"]

    made = _job(service, service.op("POST", f"/v1/tenants/{slug}/backups", {}))
    assert made["state"] == "succeeded", made["error"]
    [backup] = made["outputs"]["backups"]
    listed = service.op("GET", f"/v1/tenants/{slug}/backups").json()["backups"]
    assert backup["volid"] in {b["volid"] for b in listed}
    protected = service.op("POST", f"/v1/tenants/{slug}/backups/protect", {"volid": backup["volid"]})
    assert protected.status_code == 200 and protected.json()["protected"] is True

    refused = _job(service, service.op("POST", f"/v1/tenants/{slug}/restore", {"volid": backup["volid"], "server": 0}))
    assert refused["state"] == "failed" and "is running" in refused["error"] and "stop" in refused["error"]
    assert service.tenant(slug)["phase"] == "ready", "a refused restore leaves the tenant as it was"
    restored = _job(
        service,
        service.op("POST", f"/v1/tenants/{slug}/restore", {"volid": backup["volid"], "server": 0, "stop": True}),
    )
    assert restored["state"] == "succeeded", restored["error"]
    assert restored["outputs"]["restored"][0]["in_place"] is True
    assert service.tenant(slug)["outputs"]["vmIds"] == vmids, "a restore keeps the tenant's outputs"

    gone = _job(service, service.op("POST", f"/v1/tenants/{slug}/decommission"))
    assert gone["state"] == "succeeded", gone["error"]
    tenant = service.tenant(slug)
    assert tenant["phase"] == "decommissioned" and re.fullmatch(r"archived until \d{4}-\d\d-\d\d", tenant["status"])
    archives = service.op("GET", f"/v1/archives?slug={slug}").json()["archives"]
    assert [a["vmid"] for a in archives] == vmids

    back = _job(service, service.op("POST", f"/v1/tenants/{slug}/undelete"))
    assert back["state"] == "succeeded", back["error"]
    tenant = service.tenant(slug)
    assert tenant["phase"] == "ready" and tenant["outputs"]["vmIds"] == vmids
    assert service.op("POST", f"/v1/tenants/{slug}/undelete").status_code == 409, "only a decommissioned tenant"
