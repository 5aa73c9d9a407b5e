"""The service's door check refuses over-quota requests with the pack's own policy names and messages."""

from __future__ import annotations

import pytest

from components.spec import Plan
from policies import quotas as q
from policies.request import check_request

PLANS = {"starter": Plan("starter", 2, 4096, 40, 1), "business": Plan("business", 4, 8192, 100, 3)}


def test_within_quota_is_allowed() -> None:
    assert check_request("business", 3, PLANS, tenant="acme") == []


def test_too_many_servers_is_refused_with_the_policy_message() -> None:
    assert check_request("starter", 2, PLANS, tenant="acme") == [
        q.Violation(q.TENANT_SERVER_QUOTA, "tenant acme: 2 servers exceed plan 'starter' limit of 1 (max_servers)")
    ]


def test_unknown_plan() -> None:
    assert [v.policy for v in check_request("gold", 1, PLANS)] == [q.TENANT_SERVER_QUOTA]


def test_custom_size_over_plan() -> None:
    found = check_request("starter", 1, PLANS, tenant="acme", memory_mb=8192)
    assert found == [
        q.Violation(
            q.VM_WITHIN_PLAN, "VM acme-s0-vm: memory.dedicated = 8192 MB exceeds plan 'starter' limit of 4096 MB"
        )
    ]


def test_templates_and_hostnames() -> None:
    found = check_request(
        "starter",
        1,
        PLANS,
        templates=[9000, 42],
        allowed_templates=[9000],
        hostnames=["acme.cloud.test", "acme.other.test"],
        zone="cloud.test",
    )
    assert [v.policy for v in found] == [q.VM_TEMPLATE_ALLOWED, q.DNS_IN_ZONE]


def test_negative_server_count_names_the_field() -> None:
    with pytest.raises(ValueError, match="servers must be >= 0"):
        check_request("starter", -1, PLANS)
