"""Providers are pickled into every stack's state by reference (module and class name), so the state
written before a refactor still loads: the four modules and class names below must not change."""

from __future__ import annotations

import base64

import dill
import pytest
from pulumi.dynamic.dynamic import serialize_provider

from providers.allocation import AllocationProvider
from providers.dns_record import DnsRecordProvider
from providers.dokploy_server import DokployServerProvider
from providers.guest_keys import GuestKeysProvider
from providers.ip_filter import IpFilterProvider
from providers.ssh_keypair import SshKeyPairProvider
from providers.warm_adoption import WarmAdoptionProvider

PROVIDERS = [
    AllocationProvider,
    DnsRecordProvider,
    DokployServerProvider,
    SshKeyPairProvider,
    GuestKeysProvider,
    IpFilterProvider,
    WarmAdoptionProvider,
]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_is_pickled_by_reference(provider: type) -> None:
    raw = base64.b64decode(serialize_provider(provider()))
    assert provider.__module__.encode() in raw and provider.__name__.encode() in raw
    assert len(raw) < 300, "the provider's code went into the state: it must stay importable by name"
    assert type(dill.loads(raw)) is provider
