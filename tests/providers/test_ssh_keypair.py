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


def test_a_new_rotation_id_makes_a_new_key_in_place_and_remembers_the_previous_one() -> None:
    provider = SshKeyPairProvider()
    created = provider.create(check_inputs({"comment": "dokploy@acme"})[0]).outs
    assert created["generation"] == 1 and created["previous_public_key"] is None
    news = check_inputs({"comment": "dokploy@acme", "rotation": "r1"})[0]
    diff = provider.diff(created["fingerprint"], created, news)
    assert diff.changes and diff.replaces == []
    rotated = provider.update(created["fingerprint"], created, news).outs
    assert rotated["private_key"] != created["private_key"] and rotated["fingerprint"] != created["fingerprint"]
    assert rotated["previous_public_key"] == created["public_key"]
    assert rotated["generation"] == 2 and rotated["rotation"] == "r1" and rotated["created_at"] >= created["created_at"]
    # the same id again (a retry), or none (an ordinary run): nothing to do
    assert not provider.diff(created["fingerprint"], rotated, news).changes
    plain = check_inputs({"comment": "dokploy@acme"})[0]
    assert not provider.diff(created["fingerprint"], rotated, plain).changes
    kept = provider.update(created["fingerprint"], rotated, {**plain, "comment": "ops@acme"}).outs
    assert kept["private_key"] == rotated["private_key"] and kept["rotation"] == "r1"


def test_check_names_a_bad_rotation_id_and_a_vault_backend_without_a_path() -> None:
    _, failures = check_inputs({"comment": "", "rotation": "two words"})
    assert [prop for prop, _ in failures] == ["rotation"]
    _, failures = check_inputs({"comment": "", "backend": "vault"})
    assert [prop for prop, _ in failures] == ["vault_path"]
    _, failures = check_inputs({"comment": "", "backend": "s3"})
    assert [prop for prop, _ in failures] == ["backend"]
