"""Laws of the Dokploy server provider's pure rules (no engine, no network)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.dokploy_server import DokployServerProvider
from providers.dokploy_server_rules import (
    FIELD_RULES,
    REPLACE_KEYS,
    RESETUP_KEYS,
    UNKNOWN,
    RemoveOutcome,
    adopted_row_differs,
    check_inputs,
    diff_props,
    key_fingerprint,
    organization_mismatch,
    outputs,
    read_outputs,
    remove_outcome,
    server_fields,
    setup_failure_message,
    setup_needed_on_update,
    tagged_description,
    untagged_description,
    validate_wait,
)
from sim.dokploy.testing import keypair

PAIRS = [keypair(f"c{i}") for i in range(3)]

valid_inputs = st.fixed_dictionaries(
    {
        "name": st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20).filter(
            lambda s: s.strip() != ""
        ),
        "organization_id": st.sampled_from(["org-a", "org-b"]),
        "ip_address": st.ip_addresses(v=4).map(str) | st.sampled_from(["vm1.tenant.example", "::1"]),
        "port": st.integers(1, 65535),
        "username": st.sampled_from(["root", "ubuntu", "deploy_1"]),
        "pair": st.sampled_from(range(len(PAIRS))),
        "crlf": st.booleans(),
        "marker": st.sampled_from(["proj/dev/t1", "proj/dev/t2"]),
    },
    optional={
        "description": st.none() | st.text(max_size=10),
        "server_type": st.sampled_from(["deploy", "build"]),
        "enable_docker_cleanup": st.booleans(),
        "on_services": st.sampled_from(["fail", "detach"]),
    },
).map(lambda d: _materialise(d))


def _materialise(d: dict[str, Any]) -> dict[str, Any]:
    private, public = PAIRS[d.pop("pair")]
    if d.pop("crlf"):
        private = private.replace("\n", "\r\n")
    return {**d, "private_key": private, "public_key": public}


def _state(inputs: dict[str, Any]) -> dict[str, Any]:
    """What create stores: the outputs of a checked input set."""
    return outputs(inputs, {"serverId": "s1", "appName": "server-x", "serverStatus": "active"}, "k1", True)


@settings(max_examples=60)
@given(valid_inputs)
def test_check_accepts_valid_inputs_and_is_idempotent(raw: dict[str, Any]) -> None:
    once, failures = check_inputs(raw)
    assert failures == []
    assert check_inputs(once) == (once, [])
    assert "\r" not in once["private_key"]


BAD_VALUES: dict[str, list[Any]] = {
    "name": ["", "   ", 5, "x" * 201],
    "ip_address": ["", "not an ip!", "999.1.1.1", 5],
    "port": [0, 65536, "22", True, 2.5],
    "username": ["", "Root", "bad user", 5],
    "public_key": ["", "ecdsa-sha2-nistp256 AAAA", "ssh-ed25519"],
    "private_key": ["", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "garbage"],
    "server_type": ["both", ""],
    "on_services": ["ignore", ""],
    "organization_id": ["", 7],
    "marker": ["", 7],
    "ready_timeout": [0, -5, "60"],
}


@settings(max_examples=60)
@given(
    valid_inputs,
    st.sampled_from(sorted(BAD_VALUES)).flatmap(lambda k: st.tuples(st.just(k), st.sampled_from(BAD_VALUES[k]))),
)
def test_check_names_the_bad_property(raw: dict[str, Any], bad: tuple[str, Any]) -> None:
    key, value = bad
    _, failures = check_inputs({**raw, key: value})
    assert [p for p, _ in failures] == [key] and failures[0][1]


def test_missing_required_inputs_are_reported() -> None:
    _, failures = check_inputs({})
    assert {p for p, r in failures if r == "is required"} == {
        "name",
        "organization_id",
        "ip_address",
        "public_key",
        "private_key",
        "marker",
    }


def test_unknown_values_pass_check_during_preview() -> None:
    raw = _materialise(
        {
            "name": "a",
            "organization_id": "o",
            "ip_address": UNKNOWN,
            "port": 22,
            "username": "root",
            "pair": 0,
            "crlf": False,
            "marker": "m",
        }
    )
    assert check_inputs(raw)[1] == []


@settings(max_examples=60)
@given(valid_inputs)
def test_diff_of_state_against_same_inputs_is_empty(raw: dict[str, Any]) -> None:
    inputs, _ = check_inputs(raw)
    assert diff_props(_state(inputs), inputs)["changed"] == []
    assert diff_props(inputs, inputs) == {"changed": [], "replaces": [], "delete_before_replace": False}


@settings(max_examples=80)
@given(valid_inputs, valid_inputs)
def test_replaces_is_a_subset_of_changes_and_follows_the_rules(a: dict[str, Any], b: dict[str, Any]) -> None:
    old, new = check_inputs(a)[0], check_inputs(b)[0]
    result = diff_props(_state(old), new)
    assert set(result["replaces"]) <= set(result["changed"])
    assert set(result["replaces"]) <= set(REPLACE_KEYS)
    assert ("organization_id" in result["replaces"]) == (old["organization_id"] != new["organization_id"])
    key_changed = key_fingerprint(old["private_key"]) != key_fingerprint(new["private_key"])
    assert ("private_key_sha256" in result["changed"]) == key_changed  # a new key is swapped in place
    for in_place in ("ip_address", "port", "username", "name", "public_key", "private_key_sha256"):
        assert in_place not in result["replaces"]
        if in_place in old:
            assert (in_place in result["changed"]) == (old[in_place] != new[in_place])
    assert result["delete_before_replace"] == bool(result["replaces"])


def _valid_inputs() -> dict:
    """Checked inputs of one server (a generated key, LF line endings)."""
    raw = {"name": "a", "organization_id": "o", "ip_address": "10.0.0.1", "port": 22, "username": "root"}
    return check_inputs(_materialise({**raw, "pair": 0, "crlf": False, "marker": "m"}))[0]


def test_address_change_updates_in_place_and_org_change_replaces() -> None:
    inputs = _valid_inputs()
    provider = DokployServerProvider()
    moved = provider.diff("s1", _state(inputs), {**inputs, "ip_address": "10.0.0.2", "port": 2222})
    assert moved.changes and moved.replaces == []
    other_org = provider.diff("s1", _state(inputs), {**inputs, "organization_id": "o2"})
    assert other_org.replaces == ["organization_id"] and other_org.delete_before_replace
    assert provider.diff("s1", _state(inputs), {**inputs, "ip_address": UNKNOWN}).changes


def test_state_never_holds_the_private_key() -> None:
    inputs = _valid_inputs()
    state = _state(inputs)
    assert "private_key" not in state and inputs["private_key"] not in repr(state)
    assert state["private_key_sha256"].startswith("sha256:")


@pytest.mark.parametrize("description", [None, "", "tenant web", "x [y]"])
def test_marker_round_trips_through_the_description(description: str | None) -> None:
    tagged = tagged_description(description, "p/s/r")
    assert "[pulumi:p/s/r]" in tagged
    assert untagged_description(tagged, "p/s/r") == (description or None)


def test_every_bad_value_has_a_rule() -> None:
    assert set(BAD_VALUES) <= set(FIELD_RULES)


@pytest.mark.parametrize(
    "status,message,on_services,outcome",
    [
        (400, "Server has active services", "fail", RemoveOutcome.REFUSE),
        (400, "Server has active services", "detach", RemoveOutcome.DETACH),
        (404, "Server not found", "fail", RemoveOutcome.GONE),
        (400, "Input validation failed", "detach", RemoveOutcome.RAISE),
        (None, "cannot reach", "fail", RemoveOutcome.RAISE),
        (503, "busy", "detach", RemoveOutcome.RAISE),
    ],
)
def test_remove_outcome(status: int | None, message: str, on_services: str, outcome: RemoveOutcome) -> None:
    assert remove_outcome(status, message, on_services) is outcome


@settings(max_examples=60)
@given(valid_inputs, st.booleans(), st.booleans())
def test_setup_reruns_when_never_ready_or_when_the_way_in_changed(raw: dict[str, Any], ready: bool, move: bool) -> None:
    inputs = check_inputs(raw)[0]
    olds = {**_state(inputs), "ready": ready}
    news = {**inputs, "port": inputs["port"] % 65535 + 1} if move else dict(inputs)
    moved = any(olds.get(k) != news.get(k) for k in RESETUP_KEYS)
    assert setup_needed_on_update(olds, news) == (not ready or moved)
    assert setup_needed_on_update(olds, {**news, "setup": False}) is False


@settings(max_examples=40)
@given(valid_inputs)
def test_an_adopted_row_built_from_the_inputs_needs_no_update(raw: dict[str, Any]) -> None:
    inputs = check_inputs(raw)[0]
    fields = server_fields(inputs, "k1")
    row = {
        "serverId": "s1",
        "ipAddress": fields["ip_address"],
        "port": fields["port"],
        "username": fields["username"],
        "sshKeyId": "k1",
        "name": fields["name"],
        "description": fields["description"],
    }
    assert not adopted_row_differs(row, fields)
    assert adopted_row_differs({**row, "sshKeyId": "other"}, fields)


def test_read_outputs_follow_dokploy_and_flag_a_swapped_key() -> None:
    props = {"marker": "m", "ssh_key_id": "k1", "public_key": "ssh-ed25519 AAAA"}
    row = {
        "name": "n",
        "description": "web [pulumi:m]",
        "ipAddress": "10.0.0.9",
        "port": 22,
        "username": "root",
        "serverType": "deploy",
        "enableDockerCleanup": True,
        "sshKeyId": "k1",
    }
    outs = read_outputs(props, row)
    assert (
        outs["description"] == "web" and outs["ip_address"] == "10.0.0.9" and outs["public_key"] == props["public_key"]
    )
    assert read_outputs(props, {**row, "sshKeyId": "k2"})["public_key"] is None


def test_organization_mismatch_names_both_organizations() -> None:
    assert organization_mismatch({"id": "org-a"}, "org-a") is None
    assert "bound to org-b, not org-a" in (organization_mismatch({"id": "org-b"}, "org-a") or "")
    assert "bound to no organization" in (organization_mismatch(None, "org-a") or "")


def test_setup_wait_and_failure_message() -> None:
    assert validate_wait(600.0, setup_answered=True) == 10.0 and validate_wait(3.0, setup_answered=True) == 3.0
    assert validate_wait(600.0, setup_answered=False) == 600.0
    row = {
        "username": "root",
        "ipAddress": "10.0.0.4",
        "port": 22,
        "deployments": [{"status": "error", "errorMessage": "ssh: handshake failed"}, {"status": "done"}],
    }
    text = setup_failure_message("s1", row, "Authentication failed")
    assert "root@10.0.0.4:22" in text and "last setup deployment: error (ssh: handshake failed)" in text


def test_setup_counts_only_until_the_server_was_set_up_once() -> None:
    """Found by the fault soak: a tenant suspended before its first setup had its stopped VM set up on every
    retry (SSH timeouts until the job failed for good). Such a server is registered without setup and set up on
    resume; a ready server's setup flag never causes an update (its server.update could meet "Server is inactive")."""
    inputs = _valid_inputs()
    ready = {**_state(inputs), "ready": True}
    assert diff_props(ready, {**inputs, "setup": False})["changed"] == [], "suspending a ready server"
    registered = {**_state({**inputs, "setup": False}), "ready": False}
    assert diff_props(registered, {**inputs, "setup": True})["changed"] == ["setup"], "resuming one never set up"
    assert setup_needed_on_update(registered, {**inputs, "setup": True})
    assert diff_props(registered, {**inputs, "setup": False})["changed"] == [], "still suspended"
