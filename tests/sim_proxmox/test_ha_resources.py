"""``GET /cluster/ha/resources/{sid}``: no guest is HA-managed in the simulator, answered as PVE answers an unknown
resource (bpg reads that as "not HA-managed" before it migrates a VM); the schema's check is Sys.Audit on ``/``."""

from __future__ import annotations

import pytest
from proxmoxer import ProxmoxAPI, ResourceException


def test_every_vm_is_an_unknown_ha_resource(prox_admin: ProxmoxAPI) -> None:
    for sid, named in (("vm:100", "vm:100"), ("100", "vm:100"), ("ct:101", "ct:101")):
        with pytest.raises(ResourceException) as err:
            prox_admin.cluster.ha.resources(sid).get()
        assert err.value.status_code == 500 and err.value.content == f"no such resource '{named}'"
    with pytest.raises(ResourceException) as err:
        prox_admin.cluster.ha.resources("vm:abc").get()
    assert err.value.status_code == 400


def test_reading_ha_resources_needs_sys_audit_on_root(prox: ProxmoxAPI) -> None:
    with pytest.raises(ResourceException) as err:
        prox.cluster.ha.resources("vm:100").get()
    assert err.value.status_code == 403 and "(/, Sys.Audit)" in err.value.content
