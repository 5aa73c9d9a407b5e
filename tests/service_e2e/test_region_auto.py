"""``region: auto`` signups: the placer picks the region that can take every server, says why, and records it.

Real simulators behind the service's API (no workers: the decision is made at the door). The first region of a
preference list that fits wins; a full region is passed over with its reason; with no region able to take the
tenant the signup is refused (422) naming the field; the decision is in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioning.fleet_db import fleet_database
from provisioning.stacks import TenantStacks
from tests.service_e2e.harness import EngineCloud, EngineService, new_signup

pytestmark = pytest.mark.engine
GIB = 2**30


@pytest.fixture
def small_eu(engine_cloud: EngineCloud) -> Iterator[None]:
    """pve-eu1's nodes with room for nothing more (a full region); restored afterwards."""
    backend = engine_cloud.proxmox("pve-eu1")
    saved = {name: node.maxmem for name, node in backend.nodes.items()}
    for name, node in backend.nodes.items():
        node.maxmem = backend.node_entry(name)["mem"] + 1 * GIB
    yield
    for name, maxmem in saved.items():
        backend.nodes[name].maxmem = maxmem


def _auto(body: dict, **fields: object) -> dict:
    return {**body, "region": "auto", **fields}


def test_the_first_preferred_region_that_fits_is_chosen(service: EngineService, engine_cloud: EngineCloud) -> None:
    body = _auto(new_signup("auto"), plan="business", servers=2, regions=["pve-us1", "pve-eu1"])
    engine_cloud.add_organization({**body, "region": "pve-us1"})
    answer = service.signup(body)
    assert answer.status_code == 202, answer.text
    region = answer.json()["region"]
    assert region["chosen"] == "pve-us1" and "first region of the preference list" in region["reason"]
    assert region["considered"]["pve-us1"].startswith("fits on ")
    assert service.declared(answer.json()["slug"]).region == "pve-us1"
    [event] = fleet_database(TenantStacks("local")).events(tenant=answer.json()["slug"], action="place.region")
    assert event.subject == "pve-us1" and "first region of the preference list" in event.detail


def test_a_full_region_is_passed_over_and_no_fit_is_refused(
    service: EngineService, engine_cloud: EngineCloud, small_eu: None
) -> None:
    body = _auto(new_signup("auto"), plan="starter", regions=["pve-eu1", "pve-us1"])
    engine_cloud.add_organization({**body, "region": "pve-us1"})
    answer = service.signup(body)
    assert answer.status_code == 202, answer.text
    region = answer.json()["region"]
    assert region["chosen"] == "pve-us1" and "(pve-eu1 did not)" in region["reason"]
    assert region["considered"]["pve-eu1"].startswith("does not fit: no node can take a VM of 4096 MiB")
    refused = service.signup(_auto(new_signup("auto"), plan="starter", regions=["pve-eu1"]))
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["field"] == "regions" and "no region can take 1 starter server(s)" in problem["message"]
    unknown = service.signup(_auto(new_signup("auto"), plan="starter", regions=["mars-1"]))
    assert unknown.status_code == 422 and "unknown region(s) ['mars-1']" in unknown.text
    stray = service.signup({**new_signup("auto"), "regions": ["pve-eu1"]})
    assert stray.status_code == 422 and "region 'auto' only" in stray.text
