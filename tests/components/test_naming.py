"""The naming contract's build/parse pairs round-trip (components/naming.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
