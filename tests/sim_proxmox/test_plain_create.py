"""A plain ``POST /nodes/{node}/qemu`` (no ``archive``) at an id in use: PVE's own refusal, after its permission check."""

from __future__ import annotations

import pytest
from proxmoxer import ProxmoxAPI, ResourceException


def test_creating_a_vm_at_an_id_in_use_is_refused_as_pve_does(prox: ProxmoxAPI, prox_admin: ProxmoxAPI) -> None:
    node = prox.nodes("pve1")
    with pytest.raises(ResourceException) as err:
        node.qemu.post(vmid=9000, pool="tenants", memory=1024)  # the template's id: in use
    assert err.value.status_code == 500 and err.value.content == "unable to create VM 9000: config file already exists"
    with pytest.raises(ResourceException) as denied:
        node.qemu.post(vmid=9000, memory=1024)  # no pool: VM.Allocate on /vms/9000, which the token lacks
    assert denied.value.status_code == 403
    with pytest.raises(ResourceException) as unmodelled:
        prox_admin.nodes("pve1").qemu.post(vmid=4242, memory=1024)
    assert "only restore (archive=) is supported" in unmodelled.value.content
