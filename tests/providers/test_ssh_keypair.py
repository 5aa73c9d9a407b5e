"""SSH key pair provider: generated keys are valid OpenSSH ed25519 keys; check/diff laws."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from providers.ssh_keypair import SshKeyPairProvider
from providers.ssh_keypair_rules import check_inputs, diff_inputs

comments = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789@._+:-", max_size=40)


def test_create_generates_a_matching_openssh_pair() -> None:
    result = SshKeyPairProvider().create({"comment": "dokploy@acme"})
    outs = result.outs
    private = serialization.load_ssh_private_key(outs["private_key"].encode(), password=None)
    public_line = (
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    )
    assert outs["public_key"] == f"{public_line} dokploy@acme"
    assert outs["public_key"].startswith("ssh-ed25519 ")
    assert result.id == outs["fingerprint"] and outs["fingerprint"].startswith("SHA256:")


def test_two_creates_give_different_keys() -> None:
    provider = SshKeyPairProvider()
    first, second = provider.create({"comment": ""}), provider.create({"comment": ""})
    assert first.outs["private_key"] != second.outs["private_key"]


def test_update_changes_comment_but_keeps_key() -> None:
    provider = SshKeyPairProvider()
    created = provider.create({"comment": "old"}).outs
    updated = provider.update(created["fingerprint"], created, {"comment": "new"}).outs
    assert updated["private_key"] == created["private_key"]
    assert updated["public_key"].split()[:2] == created["public_key"].split()[:2]
    assert updated["public_key"].endswith(" new")


def test_check_rejects_spaces_in_comment_naming_the_property() -> None:
    _, failures = check_inputs({"comment": "two words"})
    assert failures and failures[0][0] == "comment"


@given(comments)
def test_diff_of_identical_inputs_is_empty(comment: str) -> None:
    assert diff_inputs({"comment": comment}, {"comment": comment}) == ([], [])


@given(comments, comments)
def test_replaces_is_subset_of_changes(old: str, new: str) -> None:
    changed, replaces = diff_inputs({"comment": old}, {"comment": new})
    assert set(replaces) <= set(changed)
    assert bool(changed) == (old != new)


@given(st.text(max_size=30))
def test_check_is_idempotent_or_names_the_property(comment: str) -> None:
    inputs, failures = check_inputs({"comment": comment})
    if failures:
        assert {prop for prop, _ in failures} == {"comment"}
    else:
        assert check_inputs(inputs) == (inputs, [])
