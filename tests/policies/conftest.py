"""run_policy-style collectors: call the pack's validate callables directly, no engine."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy import PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, unknown_checking_proxy

from policies.pack import POLICIES
from policies.views import DNS_RECORD_TYPE, FIREWALL_OPTIONS_TYPE, TENANT_TYPE, VM_TYPE

UNKNOWN = UNKNOWN_NUMBER_VALUE
BUSINESS_BACKUPS = {"schedule": "02:00", "storage": "nfs-backup", "keep": {"daily": 7}}
PLANS = {
    "starter": {"cores": 2, "memory_mb": 4096, "disk_gb": 40, "max_servers": 1},
    "business": {"cores": 4, "memory_mb": 8192, "disk_gb": 100, "max_servers": 3, "backups": BUSINESS_BACKUPS},
}
CONFIG = {
    "plans": PLANS,
    "allowed_templates": [9000, 9001],
    "zone": "cloud.test",
    "min_disk_gb": 8,
    "pools": ["dokploy-local"],
}


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        additional_secret_outputs=[],
        custom_timeouts=None,
        parent=None,
    )  # type: ignore[arg-type]


def vm_props(**overrides: Any) -> dict[str, Any]:
    """VmLegacy inputs as TenantEnvironment builds them for tenant acme on starter."""
    props: dict[str, Any] = {
        "tags": ["dokploy-cloud", "plan-starter", "tenant-acme"],
        "poolId": "dokploy-local",
        "vmId": 10001,
        "nodeName": "pve1",
        "cpu": {"cores": 2},
        "memory": {"dedicated": 4096},
        "disks": [{"interface": "scsi0", "size": 40}],
        "clone": {"vmId": 9000, "nodeName": "pve1"},
    }
    props.update(overrides)
    return props


def _policy(name: str) -> Any:
    return next(p for p in POLICIES if p.name == name)


Violations = list[tuple[str, str, str | None]]


@pytest.fixture
def run_resource_policy() -> Callable[..., Violations]:
    """(policy, type, props, config=CONFIG, name) → [(policy, message, urn)] reported."""

    def run(
        policy: str, rtype: str, props: dict[str, Any], config: dict[str, Any] | None = None, name: str = "acme-s0-vm"
    ) -> Violations:
        found: Violations = []
        args = ResourceValidationArgs(
            rtype,
            unknown_checking_proxy(copy.deepcopy(props)),
            f"urn:pulumi:local.acme::dokploy-cloud::{rtype}::{name}",
            name,
            _opts(),
            None,
            CONFIG if config is None else config,
        )
        _policy(policy).validate(args, lambda msg, urn=None: found.append((policy, msg, urn)))
        return found

    return run


def stack_resource(
    rtype: str,
    name: str,
    props: dict[str, Any],
    parent: PolicyResource | None = None,
    deps: tuple[PolicyResource, ...] = (),
) -> PolicyResource:
    """A PolicyResource as the engine hands it to stack validation."""
    return PolicyResource(
        rtype,
        unknown_checking_proxy(copy.deepcopy(props)),
        f"urn:{rtype}::{name}",
        name,
        _opts(),
        None,
        parent,
        list(deps),
        {},
    )


def tenant(name: str = "acme") -> PolicyResource:
    """A TenantEnvironment component (the VMs' parent)."""
    return stack_resource(TENANT_TYPE, name, {})


def firewall(name: str, vm: PolicyResource, **overrides: Any) -> PolicyResource:
    """The OptionsLegacy tenant_vm creates for ``vm`` (depends on it; vmId unknown in preview)."""
    props = {"nodeName": "pve1", "vmId": UNKNOWN, "enabled": True, "inputPolicy": "DROP", **overrides}
    return stack_resource(FIREWALL_OPTIONS_TYPE, name, props, vm.parent, (vm,))


@pytest.fixture
def run_stack_policy() -> Callable[..., Violations]:
    """(policy, resources, config=CONFIG) → [(policy, message, urn)] reported."""

    def run(policy: str, resources: list[PolicyResource], config: dict[str, Any] | None = None) -> Violations:
        found: Violations = []
        _policy(policy).validate(
            StackValidationArgs(resources, CONFIG if config is None else config),
            lambda msg, urn=None: found.append((policy, msg, urn)),
        )
        return found

    return run


__all__ = [
    "CONFIG",
    "DNS_RECORD_TYPE",
    "PLANS",
    "UNKNOWN",
    "VM_TYPE",
    "firewall",
    "stack_resource",
    "tenant",
    "vm_props",
]
