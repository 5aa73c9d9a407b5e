"""A real PowerDNS for the DNS tests, plus env wiring and a resolver pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import dns.resolver
import pytest

from scripts.localenv.pdns import PowerDNSInstance


@pytest.fixture(scope="session")
def pdns() -> Iterator[PowerDNSInstance]:
    """One private PowerDNS per test session (needs scripts/install_pdns.sh)."""
    instance = PowerDNSInstance("cloud.test.")
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture()
def pdns_env(pdns: PowerDNSInstance, monkeypatch: pytest.MonkeyPatch) -> PowerDNSInstance:
    """PDNS_API_URL / PDNS_API_KEY set for the provider methods, for one test."""
    for key, value in pdns.env().items():
        monkeypatch.setenv(key, value)
    return pdns


@pytest.fixture()
def resolver(pdns: PowerDNSInstance) -> dns.resolver.Resolver:
    """A stub resolver that asks only our PowerDNS, without caching."""
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = pdns.dns_port
    res.lifetime = 3.0
    return res
