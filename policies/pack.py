"""The pack's policies: thin CrossGuard wrappers around the pure rules in :mod:`policies.quotas`.

Each wrapper unwraps the engine's proxies, calls one rule and reports its violations. Limits come
from policy config (``PolicyConfigSchema``); ``policies/__main__.py`` serves :data:`POLICIES` as one pack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.spec.plans import Plan, parse_plans
from components.spec.schema import PLANS_SCHEMA as SPEC_PLANS_SCHEMA
from components.spec.schema import engine_schema
from policies import quotas as q
from policies.plain import plain, stack_resources
from policies.views import DNS_RECORD_TYPE, GUEST_TYPES, VmView, guest_view

PLANS_SCHEMA = PolicyConfigSchema(properties={"plans": engine_schema(SPEC_PLANS_SCHEMA)}, required=["plans"])
"""The plans as the environment declares them: the same schema the stack file is checked with."""
TEMPLATES_SCHEMA = PolicyConfigSchema(
    properties={"allowed_templates": {"type": "array", "items": {"type": "integer"}}}, required=["allowed_templates"]
)
POOLS_SCHEMA = PolicyConfigSchema(
    properties={"pools": {"type": "array", "minItems": 1, "items": {"type": "string"}}}, required=["pools"]
)
ZONE_SCHEMA = PolicyConfigSchema(properties={"zone": {"type": "string", "minLength": 1}}, required=["zone"])
MIN_DISK_SCHEMA = PolicyConfigSchema(properties={"min_disk_gb": {"type": "integer", "minimum": 1, "default": 8}})


def _plans(config: Any) -> dict[str, Plan]:
    """The pack config's ``plans``, parsed into the one plan model (bad config names the field)."""
    return parse_plans(config, "policy config 'plans'")


def _report(violations: Iterable[q.Violation], report: ReportViolation, with_urn: bool = False) -> None:
    for v in violations:
        report(v.message, v.urn if with_urn else None)


def _vm_policy(
    name: str,
    description: str,
    rule: Callable[[VmView, dict[str, Any]], list[q.Violation]],
    level: EnforcementLevel,
    schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type in GUEST_TYPES:
            view = guest_view(args.resource_type, args.name, plain(args.props))
            _report(rule(view, dict(args.get_config())), report)

    return ResourceValidationPolicy(
        name=name, description=description, validate=validate, enforcement_level=level, config_schema=schema
    )


def _dns_in_zone(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type == DNS_RECORD_TYPE:
        _report(q.dns_record(plain(args.props), args.get_config()["zone"], name=args.name), report)


def _server_quota(args: StackValidationArgs, report: ReportViolation) -> None:
    plans = _plans(args.get_config()["plans"])
    _report(q.stack_server_quota(stack_resources(args.resources), plans), report, with_urn=True)


def _backups(args: StackValidationArgs, report: ReportViolation) -> None:
    plans = _plans(args.get_config()["plans"])
    _report(q.stack_backups(stack_resources(args.resources), plans), report, with_urn=True)


def _firewalls(args: StackValidationArgs, report: ReportViolation) -> None:
    _report(q.stack_firewalls(stack_resources(args.resources)), report, with_urn=True)


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

PACK_NAME = "dokploy-cloud-quotas"
POLICIES: list[Policy] = [
    _vm_policy(
        q.VM_WITHIN_PLAN,
        "A tenant VM may not get more cores, memory or disk than the plan named by its plan tag.",
        lambda vm, c: q.vm_within_plan(vm, _plans(c["plans"])),
        MANDATORY,
        PLANS_SCHEMA,
    ),
    StackValidationPolicy(
        name=q.TENANT_SERVER_QUOTA,
        description="A tenant may not have more servers than its plan's max_servers.",
        validate=_server_quota,
        enforcement_level=MANDATORY,
        config_schema=PLANS_SCHEMA,
    ),
    StackValidationPolicy(
        name=q.TENANT_BACKUPS,
        description="A tenant whose plan promises backups has one backup job of that plan covering all its servers.",
        validate=_backups,
        enforcement_level=MANDATORY,
        config_schema=PLANS_SCHEMA,
    ),
    _vm_policy(
        q.VM_TEMPLATE_ALLOWED,
        "A tenant VM must be cloned from a template on the allowed list.",
        lambda vm, c: q.template_allowed(vm, c["allowed_templates"]),
        MANDATORY,
        TEMPLATES_SCHEMA,
    ),
    _vm_policy(
        q.VM_TENANT_TAGS,
        "A tenant VM must carry the dokploy-cloud, tenant-<slug> and plan-<name> tags.",
        lambda vm, c: q.tenant_tags(vm),
        MANDATORY,
    ),
    _vm_policy(
        q.VM_TENANT_POOL,
        "A tenant VM must be in its region's provisioning pool (where the token's VM privileges are).",
        lambda vm, c: q.tenant_pool(vm, c["pools"]),
        MANDATORY,
        POOLS_SCHEMA,
    ),
    StackValidationPolicy(
        name=q.VM_FIREWALL,
        description="Every tenant VM must have an enabled firewall that drops inbound traffic by default.",
        validate=_firewalls,
        enforcement_level=MANDATORY,
    ),
    ResourceValidationPolicy(
        name=q.DNS_IN_ZONE,
        description="A DNS record must lie inside the environment's zone.",
        validate=_dns_in_zone,
        enforcement_level=MANDATORY,
        config_schema=ZONE_SCHEMA,
    ),
    _vm_policy(
        q.VM_WHOLE_GIB,
        "A tenant VM's memory should be a whole number of GiB.",
        lambda vm, c: q.memory_whole_gib(vm),
        ADVISORY,
    ),
    _vm_policy(
        q.VM_DISK_MIN,
        "A tenant VM's disk should not be smaller than the template's, since a cloned disk cannot shrink.",
        lambda vm, c: q.disk_not_below(vm, int(c.get("min_disk_gb", 8))),
        ADVISORY,
        MIN_DISK_SCHEMA,
    ),
    _vm_policy(
        q.VM_BELOW_PLAN,
        "A tenant VM should not be smaller than the plan the tenant pays for.",
        lambda vm, c: q.below_plan(vm, _plans(c["plans"])),
        ADVISORY,
        PLANS_SCHEMA,
    ),
]
