"""Laws of providers/dns_record_rules.py (no engine, no server)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi.runtime.rpc import UNKNOWN

from providers.dns_record_rules import INPUT_KEYS, REPLACE_KEYS, check_record, diff_record, parse_record_id, record_id
from tests.strategies import dns_record_inputs, raw_record_inputs


@settings(max_examples=200, deadline=None)
@given(raw_record_inputs())
def test_check_names_a_property_or_is_idempotent(news):
    out, failures = check_record(news)
    if failures:
        assert {prop for prop, _ in failures} <= set(INPUT_KEYS)
        assert all(reason for _, reason in failures)
    else:
        assert check_record(out) == (out, [])


@given(dns_record_inputs())
def test_valid_inputs_pass_check(news):
    assert check_record(news)[1] == []


@given(dns_record_inputs())
def test_diff_of_identical_inputs_reports_nothing(inputs):
    out, _ = check_record(inputs)
    assert diff_record(out, out) == ([], [], False)


@settings(max_examples=200)
@given(dns_record_inputs(), dns_record_inputs())
def test_replaces_subset_of_changed_and_exactly_identity_keys(a, b):
    olds, _ = check_record(a)
    news, _ = check_record(b)
    changed, replaces, dbr = diff_record({**olds, "fqdn": "ignored"}, news)
    assert set(replaces) <= set(changed) <= set(INPUT_KEYS)
    assert set(replaces) == {k for k in REPLACE_KEYS if olds[k] != news[k]}
    assert dbr <= bool(replaces)


def test_same_name_new_type_deletes_first():
    olds, _ = check_record({"zone": "cloud.test", "name": "a", "type": "A", "content": "10.0.0.1"})
    news, _ = check_record({"zone": "cloud.test", "name": "a", "type": "CNAME", "content": "b.example"})
    assert diff_record(olds, news) == (["type", "content"], ["type"], True)


def test_rename_creates_before_delete():
    olds, _ = check_record({"zone": "cloud.test", "name": "a", "type": "A", "content": "10.0.0.1"})
    news = {**olds, "name": "b"}
    assert diff_record(olds, news) == (["name"], ["name"], False)


def test_equivalent_spellings_do_not_diff():
    a, _ = check_record({"zone": "Cloud.Test", "name": "ACME", "type": "a", "content": ["10.0.0.2", "10.0.0.1"]})
    b, _ = check_record(
        {
            "zone": "cloud.test.",
            "name": "acme.cloud.test.",
            "type": "A",
            "content": ["10.0.0.1", "10.0.0.2"],
            "ttl": 300.0,
        }
    )
    assert diff_record(a, b)[0] == []


@given(st.sampled_from(["A", "AAAA"]), st.sampled_from(["not-an-ip", "10.0.0.300", "::g", "fe80::1%eth0"]))
def test_address_must_match_type(rtype, content):
    _, failures = check_record({"zone": "cloud.test.", "name": "a", "type": rtype, "content": content})
    assert [prop for prop, _ in failures] == ["content"]


def test_check_failure_names_each_bad_property():
    _, failures = check_record({"zone": "cloud.test.", "name": "-bad", "type": "MX", "content": "x", "ttl": 5})
    assert [p for p, _ in failures] == ["name", "type", "ttl"]


def test_fqdn_without_trailing_dot_is_refused_not_doubled():
    _, failures = check_record({"zone": "cloud.test.", "name": "acme.cloud.test", "type": "A", "content": "10.0.0.1"})
    assert failures and failures[0][0] == "name" and "repeats the zone" in failures[0][1]


def test_unknown_values_in_preview_pass_check_untouched():
    news = {"zone": "cloud.test.", "name": "acme", "type": "A", "content": [UNKNOWN]}
    out, failures = check_record(news)
    assert failures == [] and out["content"] == [UNKNOWN]


def test_unknown_content_is_an_update_unknown_name_a_replacement():
    olds, _ = check_record({"zone": "cloud.test.", "name": "acme", "type": "A", "content": "10.0.0.1"})
    assert diff_record(olds, {**olds, "content": UNKNOWN}) == (["content"], [], False)
    assert diff_record(olds, {**olds, "name": UNKNOWN}) == (["name"], ["name"], True)


@given(dns_record_inputs())
def test_record_id_round_trips(inputs):
    out, _ = check_record(inputs)
    assert parse_record_id(record_id(out)) == (out["zone"], f"{out['name']}.{out['zone']}", out["type"])


def test_foreign_id_is_a_clear_error():
    with pytest.raises(ValueError, match="<zone>/<fqdn>/<type>"):
        parse_record_id("acme")
