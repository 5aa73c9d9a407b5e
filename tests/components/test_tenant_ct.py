"""Key rotation of an lxc tenant is a clear refusal; a VM tenant's is allowed."""

from __future__ import annotations

import pytest

from components.spec import parse_plans, parse_tenant
from components.tenant_ct import refuse_key_rotation

BASE = {"cores": 2, "memory_mb": 2048, "disk_gb": 20, "max_servers": 1}
TENANT = "slug: acme\ndisplay_name: ACME\nplan: {plan}\nregion: r\ndokploy_organization: o1\nowner: a@b.example\n"


def test_rotation_is_refused_for_an_lxc_tenant_and_allowed_for_a_vm_tenant() -> None:
    plans = parse_plans({"small": BASE, "box": {**BASE, "kind": "lxc"}})
    refuse_key_rotation(parse_tenant(TENANT.format(plan="small"), "acme.yaml", plans), plans["small"])
    with pytest.raises(ValueError) as exc:
        refuse_key_rotation(parse_tenant(TENANT.format(plan="box"), "acme.yaml", plans), plans["box"])
    assert "acme" in str(exc.value) and "'box' is an lxc plan" in str(exc.value) and "rotation" in str(exc.value)
