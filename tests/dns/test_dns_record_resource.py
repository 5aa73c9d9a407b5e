"""The DnsRecord resource registers with its type token and credential-free inputs (Pulumi mocks)."""

from __future__ import annotations

import pulumi
import pytest

from providers.dns_record import DnsRecord, DnsRecordArgs


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.registered.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


@pytest.fixture()
def mocks(monkeypatch):
    monkeypatch.setenv("PDNS_API_KEY", "never-in-inputs")
    m = Mocks()
    pulumi.runtime.set_mocks(m, preview=False)
    return m


@pulumi.runtime.test
def test_record_registers_with_dns_token(mocks):
    record = DnsRecord("acme-dns", DnsRecordArgs(zone="cloud.test.", name="acme", type="A", content="10.0.0.1"))

    def verify(_):
        (args,) = [a for a in mocks.registered if a.name == "acme-dns"]
        assert args.typ == "pulumi-python:dynamic/dns:Record"
        assert {k: args.inputs[k] for k in ("zone", "name", "type", "content", "ttl")} == {
            "zone": "cloud.test.",
            "name": "acme",
            "type": "A",
            "content": "10.0.0.1",
            "ttl": 300,
        }
        assert "never-in-inputs" not in repr(args.inputs)

    return record.urn.apply(verify)
