"""DnsRecordProvider against a real PowerDNS; every effect is checked with a real DNS query."""

from __future__ import annotations

import itertools

import dns.resolver
import pytest

from clients.powerdns import PowerDNSApiError, PowerDNSClient
from providers.dns_record import DnsRecordProvider
from providers.dns_record_rules import UnmanagedRecordError, check_record

_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def lookup(resolver: dns.resolver.Resolver, fqdn: str, rtype: str) -> tuple[set[str], int] | None:
    try:
        answer = resolver.resolve(fqdn, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    return {r.to_text() for r in answer}, answer.rrset.ttl


def checked(**inputs):
    out, failures = check_record(inputs)
    assert failures == []
    return out


def test_create_a_record_is_served(pdns_env, resolver):
    provider = DnsRecordProvider()
    props = checked(zone=pdns_env.zone, name=unique("acme"), type="A", content=["10.0.0.2", "10.0.0.1"], ttl=120)
    result = provider.create(props)
    assert result.outs["fqdn"] == f"{props['name']}.cloud.test."
    assert lookup(resolver, result.outs["fqdn"], "A") == ({"10.0.0.1", "10.0.0.2"}, 120)


def test_create_aaaa_and_cname(pdns_env, resolver):
    provider = DnsRecordProvider()
    v6 = provider.create(checked(zone="cloud.test", name=unique("v6"), type="AAAA", content="2001:DB8::10"))
    cname = provider.create(checked(zone="cloud.test.", name=unique("www"), type="CNAME", content=v6.outs["fqdn"]))
    assert lookup(resolver, v6.outs["fqdn"], "AAAA") == ({"2001:db8::10"}, 300)
    assert lookup(resolver, cname.outs["fqdn"], "CNAME") == ({v6.outs["fqdn"]}, 300)


def test_update_changes_content_and_ttl_in_place(pdns_env, resolver):
    provider = DnsRecordProvider()
    olds = checked(zone="cloud.test.", name=unique("upd"), type="A", content="10.0.1.1")
    created = provider.create(olds)
    news = {**olds, "content": ["10.0.1.2"], "ttl": 600}
    assert provider.diff(created.id, created.outs, news).replaces == []
    updated = provider.update(created.id, created.outs, news)
    assert updated.outs["content"] == ["10.0.1.2"]
    assert lookup(resolver, created.outs["fqdn"], "A") == ({"10.0.1.2"}, 600)


def test_read_reports_drift_and_deletion(pdns_env, resolver):
    provider = DnsRecordProvider()
    props = checked(zone="cloud.test.", name=unique("drift"), type="A", content="10.0.2.1")
    created = provider.create(props)
    assert provider.read(created.id, created.outs).outs == created.outs
    PowerDNSClient.from_env().replace_rrset("cloud.test.", created.outs["fqdn"], "A", 60, ["10.9.9.9"])
    drifted = provider.read(created.id, created.outs)
    assert (drifted.id, drifted.outs["content"], drifted.outs["ttl"]) == (created.id, ["10.9.9.9"], 60)
    assert provider.diff(created.id, drifted.outs, props).changes is True
    PowerDNSClient.from_env().delete_rrset("cloud.test.", created.outs["fqdn"], "A")
    gone = provider.read(created.id, created.outs)
    assert (gone.id, gone.outs) == ("", {})


def test_delete_removes_record_and_is_idempotent(pdns_env, resolver):
    provider = DnsRecordProvider()
    created = provider.create(checked(zone="cloud.test.", name=unique("del"), type="A", content="10.0.3.1"))
    provider.delete(created.id, created.outs)
    assert lookup(resolver, created.outs["fqdn"], "A") is None
    provider.delete(created.id, created.outs)


def test_create_adopts_identical_record(pdns_env, resolver):
    provider = DnsRecordProvider()
    props = checked(zone="cloud.test.", name=unique("adopt"), type="A", content="10.0.4.1", ttl=900)
    fqdn = f"{props['name']}.cloud.test."
    PowerDNSClient.from_env().replace_rrset("cloud.test.", fqdn, "A", 60, ["10.0.4.1"])
    provider.create(props)
    assert lookup(resolver, fqdn, "A") == ({"10.0.4.1"}, 900)


def test_create_refuses_foreign_record_and_leaves_it(pdns_env, resolver):
    provider = DnsRecordProvider()
    props = checked(zone="cloud.test.", name=unique("taken"), type="A", content="10.0.5.1")
    fqdn = f"{props['name']}.cloud.test."
    PowerDNSClient.from_env().replace_rrset("cloud.test.", fqdn, "A", 60, ["192.0.2.7"])
    with pytest.raises(UnmanagedRecordError, match=r"already exists with \['192.0.2.7'\].*not managed"):
        provider.create(props)
    assert lookup(resolver, fqdn, "A") == ({"192.0.2.7"}, 60)


def test_create_in_missing_zone_names_zone(pdns_env):
    props = checked(zone="nowhere.test.", name="x", type="A", content="10.0.0.1")
    with pytest.raises(PowerDNSApiError, match=r"zone nowhere\.test\..*HTTP 404.*create the zone") as exc:
        DnsRecordProvider().create(props)
    assert pdns_env.api_key not in str(exc.value)


def test_missing_env_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("PDNS_API_URL", raising=False)
    with pytest.raises(PowerDNSApiError, match="PDNS_API_URL is not set"):
        DnsRecordProvider().delete("cloud.test./a.cloud.test./A", {})


def test_provider_holds_no_credentials(pdns_env):
    import dill

    provider = DnsRecordProvider()
    provider.create(checked(zone="cloud.test.", name=unique("pickle"), type="A", content="10.0.6.1"))
    assert pdns_env.api_key.encode() not in dill.dumps(provider, recurse=True)
