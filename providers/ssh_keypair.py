"""Pulumi dynamic provider: an ed25519 SSH key pair generated once and kept only in (encrypted) state.

The private key is generated inside ``create`` and returned as an output that the resource marks
secret, so it is encrypted in the checkpoint and never printed. Changing the comment rewrites the
public key's comment in place; nothing but a replacement makes a new key.
"""
from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, Optional, TypedDict

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pulumi import Input, Output, ResourceOptions
from pulumi.dynamic import (CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource,
                            ResourceProvider, UpdateResult)

_COMMENT = re.compile(r"^[A-Za-z0-9@._+:-]{0,128}$")


class SshKeyPairArgs(TypedDict, total=False):
    """Inputs of :class:`SshKeyPair`."""

    comment: Input[str]
    """Comment appended to the public key (e.g. ``dokploy@acme``); letters, digits and ``@._+:-``."""


class _Inputs(TypedDict, total=False):
    comment: str


def check_inputs(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalise inputs; return them with a list of (property, reason) failures."""
    comment = news.get("comment") or ""
    failures = []
    if not isinstance(comment, str) or not _COMMENT.match(comment):
        failures.append(("comment", "must be at most 128 characters of letters, digits and @._+:- (no spaces)"))
    return {"comment": comment}, failures


def diff_inputs(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return (changed keys, keys forcing replacement): only the comment can change, in place."""
    changed = [key for key in ("comment",) if (olds.get(key) or "") != (news.get(key) or "")]
    return changed, []


def generate_key_pair(comment: str) -> dict[str, str]:
    """A fresh ed25519 key pair in OpenSSH formats, with its SHA256 fingerprint."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return {"private_key": private, **public_key_fields(public, comment)}


def public_key_fields(public_key: str, comment: str) -> dict[str, str]:
    """The public line with ``comment`` applied, and the key's SHA256 fingerprint as ssh-keygen prints it."""
    kind, blob = public_key.split()[:2]
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    fingerprint = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    line = f"{kind} {blob} {comment}".rstrip()
    return {"public_key": line, "fingerprint": fingerprint}


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


class SshKeyPair(Resource, module="ssh", name="KeyPair"):
    """An ed25519 key pair; ``private_key`` is a Pulumi secret."""

    public_key: Output[str]
    private_key: Output[str]
    fingerprint: Output[str]
    comment: Output[str]

    def __init__(self, name: str, args: Optional[SshKeyPairArgs] = None,
                 opts: Optional[ResourceOptions] = None) -> None:
        props: dict[str, Any] = {"comment": (args or {}).get("comment", ""),
                                 "public_key": None, "private_key": None, "fingerprint": None}
        opts = ResourceOptions.merge(opts, ResourceOptions(additional_secret_outputs=["private_key"]))
        super().__init__(SshKeyPairProvider(), name, props, opts)


__all__ = ["SshKeyPair", "SshKeyPairArgs", "SshKeyPairProvider", "check_inputs", "diff_inputs",
           "generate_key_pair", "public_key_fields"]
