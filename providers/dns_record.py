"""Dynamic provider for one DNS record set (A, AAAA or CNAME) in a PowerDNS zone.

Credentials come from ``PDNS_API_URL``/``PDNS_API_KEY`` read inside each method, never from
inputs or provider attributes (the provider object is pickled into state with dill).

``create`` adopts an existing record set with exactly the desired contents (so a crash
between creating and saving state is harmless) and refuses one with other contents: that
record belongs to someone else and must be imported or removed first.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from clients.powerdns import PowerDNSApiError, PowerDNSClient
from components.naming import DNS_RECORD_MODULE, DNS_RECORD_NAME
from providers.dns_record_rules import (
    INPUT_KEYS,
    RECORD_TYPES,
    REPLACE_KEYS,
    TTL_DEFAULT,
    TTL_MAX,
    TTL_MIN,
    UnmanagedRecordError,
    adoption_conflict,
    check_record,
    diff_record,
    fqdn_of,
    parse_record_id,
    record_id,
)

__all__ = [
    "INPUT_KEYS",
    "RECORD_TYPES",
    "REPLACE_KEYS",
    "TTL_DEFAULT",
    "TTL_MAX",
    "TTL_MIN",
    "DnsRecord",
    "DnsRecordArgs",
    "DnsRecordProvider",
    "UnmanagedRecordError",
    "check_record",
    "diff_record",
    "parse_record_id",
    "record_id",
]


class DnsRecordArgs:
    """Inputs of a :class:`DnsRecord`."""

    def __init__(
        self,
        zone: pulumi.Input[str],
        name: pulumi.Input[str],
        type: pulumi.Input[str],
        content: pulumi.Input[str] | pulumi.Input[list[pulumi.Input[str]]],
        ttl: pulumi.Input[int] = TTL_DEFAULT,
    ) -> None:
        self.zone = zone
        """Zone the record lives in, e.g. ``cloud.test.`` (trailing dot optional)."""
        self.name = name
        """Host label(s) relative to the zone (``acme``) or an FQDN inside it (``acme.cloud.test.``)."""
        self.type = type
        """Record type: A, AAAA or CNAME."""
        self.content = content
        """Address(es) for A/AAAA, or the single target host name of a CNAME (taken as absolute)."""
        self.ttl = ttl
        """Time to live in seconds, 60 to 86400."""


class _RecordInputs(TypedDict):
    zone: str
    name: str
    type: str
    content: list[str]
    ttl: int


def _outs(inputs: _RecordInputs) -> dict[str, Any]:
    return {**{k: inputs[k] for k in INPUT_KEYS}, "fqdn": fqdn_of(dict(inputs))}  # type: ignore[literal-required]


class DnsRecordProvider(ResourceProvider):
    """CRUD for one record set through the PowerDNS HTTP API."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_record(news)
        return CheckResult(inputs, [CheckFailure(prop, reason) for prop, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed, replaces, dbr = diff_record(olds, news)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=dbr)

    def create(self, props: dict[str, Any]) -> CreateResult:
        inputs: _RecordInputs = props  # type: ignore[assignment]
        client = PowerDNSClient.from_env()
        fqdn, rtype = fqdn_of(props), inputs["type"]
        existing = client.get_rrset(inputs["zone"], fqdn, rtype)
        conflict = adoption_conflict(props, existing.contents if existing else None)
        if conflict:
            raise UnmanagedRecordError(conflict)
        client.replace_rrset(inputs["zone"], fqdn, rtype, inputs["ttl"], inputs["content"])
        return CreateResult(record_id(props), _outs(inputs))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        zone, fqdn, rtype = parse_record_id(id_)
        current = PowerDNSClient.from_env().get_rrset(zone, fqdn, rtype)
        if current is None:
            return ReadResult("", {})
        inputs: _RecordInputs = {
            "zone": zone,
            "name": fqdn[: -len(zone) - 1],
            "type": rtype,
            "content": sorted(current.contents),
            "ttl": current.ttl,
        }
        return ReadResult(id_, _outs(inputs))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        inputs: _RecordInputs = news  # type: ignore[assignment]
        PowerDNSClient.from_env().replace_rrset(
            inputs["zone"], fqdn_of(news), inputs["type"], inputs["ttl"], inputs["content"]
        )
        return UpdateResult(_outs(inputs))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        zone, fqdn, rtype = parse_record_id(id_)
        try:
            PowerDNSClient.from_env().delete_rrset(zone, fqdn, rtype)
        except PowerDNSApiError as exc:
            if exc.status != 404:  # the zone itself is gone, so the record is too
                raise


class DnsRecord(Resource, module=DNS_RECORD_MODULE, name=DNS_RECORD_NAME):
    """A DNS record set managed through PowerDNS."""

    zone: pulumi.Output[str]
    name: pulumi.Output[str]
    type: pulumi.Output[str]
    content: pulumi.Output[list[str]]
    ttl: pulumi.Output[int]
    fqdn: pulumi.Output[str]

    def __init__(self, resource_name: str, args: DnsRecordArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        props = {
            "zone": args.zone,
            "name": args.name,
            "type": args.type,
            "content": args.content,
            "ttl": args.ttl,
            "fqdn": None,
        }
        super().__init__(DnsRecordProvider(), resource_name, props, opts)
