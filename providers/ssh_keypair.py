"""Pulumi dynamic provider: a tenant's ed25519 SSH key pair, rotatable, kept in state or in Vault.

The private key is generated inside the provider. Where it is kept is the ``backend`` input:

* ``state`` (the embedded default): the private key is an output the resource marks secret, so it is
  encrypted in the checkpoint and never printed.
* ``vault``: the key pair is written to Vault's KV v2 at ``vault_path`` (:mod:`provisioning.vault_store`) and
  the ``private_key`` output is only its reference, ``vault:<mount>/<path>#<version>``; an export of the stack
  holds no key material. Deleting the resource deletes the path with every version.

``private_key`` is what consumers pass on (the Dokploy server resolves a reference when it needs the key).
A new ``rotation`` id makes a new key pair in place; the previous public key stays in ``previous_public_key``
so the servers can accept both until Dokploy holds the new one (:mod:`providers.guest_keys`). Changing the
comment rewrites the public key's comment; changing the backend moves the key. Nothing replaces the resource.
"""

from __future__ import annotations

import time
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
from providers.ssh_keypair_rules import check_inputs, diff_inputs, public_key_fields, rotation_requested
from provisioning.vault_store import VaultStore, parse_ref


class SshKeyPairArgs(TypedDict, total=False):
    """Inputs of :class:`SshKeyPair`."""

    comment: Input[str]
    """Comment appended to the public key (e.g. ``dokploy@acme``); letters, digits and ``@._+:-``."""
    rotation: Input[str | None]
    """A rotation request's id: a new id makes a new key pair (None: keep the key)."""
    backend: Input[str]
    """``state`` or ``vault``: where the private key is kept."""
    vault_path: Input[str | None]
    """The KV v2 path of the key pair (the vault backend)."""


def generate_key_pair(comment: str) -> dict[str, str]:
    """A fresh ed25519 key pair in OpenSSH formats, with its SHA256 fingerprint."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return {"private_key": private, **public_key_fields(public, comment)}


def _kept(props: dict[str, Any], pair: dict[str, str]) -> dict[str, str]:
    """``private_key`` as the backend keeps it: the PEM (state) or a reference to a new Vault version."""
    if props.get("backend") != "vault":
        return {"private_key": pair["private_key"]}
    data = {"private_key": pair["private_key"], "public_key": pair["public_key"], "fingerprint": pair["fingerprint"]}
    return {"private_key": VaultStore().write(str(props["vault_path"]), data)}


def private_pem(kept: str) -> str:
    """The PEM private key from what ``private_key`` holds (reading Vault for a reference)."""
    if parse_ref(kept) is None:
        return kept
    return VaultStore().read_ref(kept)["private_key"]


class SshKeyPairProvider(ResourceProvider):
    """Generates the key on create and on rotation; moves it between backends; delete forgets it (and
    removes its Vault path)."""

    serialize_as_secret_always = True

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs, failures = check_inputs(news)
        return CheckResult(inputs, [CheckFailure(prop, reason) for prop, reason in failures])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed, replaces = diff_inputs(olds, news)
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        pair = generate_key_pair(props.get("comment") or "")
        outs = {
            **props,
            **pair,
            **_kept(props, pair),
            "previous_public_key": None,
            "created_at": time.time(),
            "generation": 1,
        }
        return CreateResult(id_=outs["fingerprint"], outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        # The key exists only in state (or behind its reference): whatever state holds is the truth.
        return ReadResult(id_=id_, outs=props)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        comment = news.get("comment") or ""
        outs = {**olds, **news, **public_key_fields(olds["public_key"], comment)}
        outs["rotation"] = olds.get("rotation")
        if rotation_requested(olds, news):
            pair = generate_key_pair(comment)
            outs.update(pair)
            outs.update(_kept(news, pair))
            outs.update(
                previous_public_key=olds["public_key"],
                created_at=time.time(),
                generation=int(olds.get("generation") or 1) + 1,
                rotation=news["rotation"],
            )
        elif (olds.get("backend") or "state", olds.get("vault_path")) != (news.get("backend"), news.get("vault_path")):
            pem = private_pem(str(olds["private_key"]))
            outs.update(_kept(news, {**public_key_fields(olds["public_key"], comment), "private_key": pem}))
            if olds.get("backend") == "vault" and olds.get("vault_path"):
                VaultStore().remove(str(olds["vault_path"]))
        return UpdateResult(outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("backend") == "vault" and props.get("vault_path"):
            VaultStore().remove(str(props["vault_path"]))


class SshKeyPair(Resource, module=SSH_KEY_MODULE, name=SSH_KEY_NAME):
    """An ed25519 key pair; ``private_key`` (the PEM, or its Vault reference) is a Pulumi secret."""

    public_key: Output[str]
    private_key: Output[str]
    fingerprint: Output[str]
    comment: Output[str]
    previous_public_key: Output[str | None]
    created_at: Output[float]
    generation: Output[int]

    def __init__(self, name: str, args: SshKeyPairArgs | None = None, opts: ResourceOptions | None = None) -> None:
        given = args or {}
        props: dict[str, Any] = {
            "comment": given.get("comment", ""),
            "rotation": given.get("rotation"),
            "backend": given.get("backend", "state"),
            "vault_path": given.get("vault_path"),
            "public_key": None,
            "private_key": None,
            "fingerprint": None,
            "previous_public_key": None,
            "created_at": None,
            "generation": None,
        }
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["private_key"]))
        super().__init__(SshKeyPairProvider(), name, props, opts)


__all__ = ["SshKeyPair", "SshKeyPairArgs", "SshKeyPairProvider", "generate_key_pair", "private_pem"]
