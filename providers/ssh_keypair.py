"""Pulumi dynamic provider: an ed25519 SSH key pair generated once and kept only in (encrypted) state.

The private key is generated inside ``create`` and returned as an output that the resource marks
secret, so it is encrypted in the checkpoint and never printed. Changing the comment rewrites the
public key's comment in place; nothing but a replacement makes a new key.
"""

from __future__ import annotations

from typing import Any, TypedDict

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components.naming import SSH_KEY_MODULE, SSH_KEY_NAME
from providers.ssh_keypair_rules import check_inputs, diff_inputs, public_key_fields


class SshKeyPairArgs(TypedDict, total=False):
    """Inputs of :class:`SshKeyPair`."""

    comment: Input[str]
    """Comment appended to the public key (e.g. ``dokploy@acme``); letters, digits and ``@._+:-``."""


def generate_key_pair(comment: str) -> dict[str, str]:
    """A fresh ed25519 key pair in OpenSSH formats, with its SHA256 fingerprint."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return {"private_key": private, **public_key_fields(public, comment)}


class SshKeyPairProvider(ResourceProvider):
    """Generates the key on create; update only rewrites the comment; delete forgets it."""

    serialize_as_secret_always = True

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_inputs(news)
        return CheckResult(inputs, [CheckFailure(prop, reason) for prop, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed, replaces = diff_inputs(olds, news)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = {**props, **generate_key_pair(props.get("comment") or "")}
        return CreateResult(id_=outs["fingerprint"], outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The key exists only in state: whatever state holds is the truth.
        return ReadResult(id_=id_, outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        comment = news.get("comment") or ""
        return UpdateResult(outs={**olds, **news, **public_key_fields(olds["public_key"], comment)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class SshKeyPair(Resource, module=SSH_KEY_MODULE, name=SSH_KEY_NAME):
    """An ed25519 key pair; ``private_key`` is a Pulumi secret."""

    public_key: Output[str]
    private_key: Output[str]
    fingerprint: Output[str]
    comment: Output[str]

    def __init__(self, name: str, args: SshKeyPairArgs | None = None, opts: ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {
            "comment": (args or {}).get("comment", ""),
            "public_key": None,
            "private_key": None,
            "fingerprint": None,
        }
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["private_key"]))
        super().__init__(SshKeyPairProvider(), name, props, opts)


__all__ = ["SshKeyPair", "SshKeyPairArgs", "SshKeyPairProvider", "generate_key_pair"]
