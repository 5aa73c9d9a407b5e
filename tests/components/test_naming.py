"""The naming contract (components/naming.py): build/parse pairs round-trip, and its names are the ones
the engine, the providers and the pack really use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN
from pulumi_policy import proxy

from components import naming
from components.naming import allocation_id, parse_allocation_id

# Slashes and percent signs are what an id format can trip on: draw them often.
names = st.text(st.sampled_from("/%2Fa-._") | st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)


@given(names, names)
def test_allocation_ids_round_trip_for_any_pool_and_owner(pool: str, owner: str) -> None:
    id_ = allocation_id(pool, owner)
    assert parse_allocation_id(id_) == (pool, owner)
    assert parse_allocation_id(id_, {"pool": "other", "owner": "x/9"}) == (pool, owner)


def test_ids_written_before_the_encoding_still_parse() -> None:
    assert parse_allocation_id("local/pve-eu1/acme-2/1") == ("local/pve-eu1", "acme-2/1")
    assert parse_allocation_id("eu/x/acme/0", {"pool": "eu/x/acme", "owner": "0"}) == ("eu/x/acme", "0")
    with pytest.raises(ValueError, match="percent-encoded"):
        parse_allocation_id("a/b/c")


slugs = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(slugs, slugs)
def test_stack_names_round_trip(env: str, slug: str) -> None:
    assert naming.split_stack_name(naming.stack_name(env, slug)) == (env, slug)
    assert naming.split_stack_name(env) == (env, None)


@given(slugs, st.integers(min_value=0, max_value=10_000))
def test_allocation_owners_round_trip_and_other_shapes_are_refused(slug: str, index: int) -> None:
    assert naming.parse_allocation_owner(naming.allocation_owner(slug, index)) == (slug, index)
    assert naming.parse_allocation_owner(f"{slug}/{index}/x") is None
    assert naming.parse_allocation_owner(slug) is None


def test_tenant_tags_are_ownership_plus_plan_in_proxmox_order() -> None:
    tags = naming.tenant_tags("acme", "business")
    assert tags == sorted(tags) == ["dokploy-cloud", "plan-business", "tenant-acme"]
    assert naming.ownership_tags("acme") == {"dokploy-cloud", "tenant-acme"} < set(tags)


def test_dynamic_type_tokens_are_the_ones_the_provider_classes_register() -> None:
    from providers.allocation import AllocationResource
    from providers.dns_record import DnsRecord
    from providers.dokploy_server import DokployServer
    from providers.guest_keys import GuestKeys
    from providers.ip_filter import IpFilter
    from providers.ssh_keypair import SshKeyPair

    for cls, token in (
        (AllocationResource, naming.ALLOCATION_TYPE),
        (DnsRecord, naming.DNS_RECORD_TYPE),
        (DokployServer, naming.DOKPLOY_SERVER_TYPE),
        (SshKeyPair, naming.SSH_KEY_TYPE),
        (GuestKeys, naming.GUEST_KEYS_TYPE),
        (IpFilter, naming.IP_FILTER_TYPE),
    ):
        assert f"pulumi-python:{cls._resource_type_name}" == token  # how pulumi.dynamic.Resource names its type


def test_every_unknown_sentinel_of_the_engine_and_the_policy_host_is_recognised() -> None:
    policy_sentinels = {v for k, v in vars(proxy).items() if k.startswith("UNKNOWN_") and isinstance(v, str)}
    assert policy_sentinels and policy_sentinels | {UNKNOWN} == naming.UNKNOWN_SENTINELS
    assert all(naming.is_unknown(s) for s in naming.UNKNOWN_SENTINELS) and naming.is_unknown(Unknown())
    assert not naming.is_unknown("04da6b54") and not naming.is_unknown(None) and not naming.is_unknown(["x", UNKNOWN])


def test_unknowns_are_found_inside_every_shape_the_provider_host_sends() -> None:
    assert naming.contains_unknown(["a", Unknown()]) and naming.contains_unknown({"k": UNKNOWN})
    assert naming.contains_unknown(("a", {"b": [UNKNOWN]}))
    assert not naming.contains_unknown(["a", "b"]) and not naming.contains_unknown(0)
