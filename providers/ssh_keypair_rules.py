"""Pure rules of the SSH key pair provider: input checks, diff and the public key's comment and fingerprint."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

_COMMENT = re.compile(r"^[A-Za-z0-9@._+:-]{0,128}$")
_ROTATION = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_VAULT_PATH = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)+$")
BACKENDS = ("state", "vault")


def check_inputs(news: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Normalise inputs; return them with a list of (property, reason) failures."""
    comment = news.get("comment") or ""
    rotation = news.get("rotation") or None
    backend = news.get("backend") or "state"
    vault_path = news.get("vault_path") or None
    failures = []
    if not isinstance(comment, str) or not _COMMENT.match(comment):
        failures.append(("comment", "must be at most 128 characters of letters, digits and @._+:- (no spaces)"))
    if rotation is not None and (not isinstance(rotation, str) or not _ROTATION.match(rotation)):
        failures.append(("rotation", "must be 1-64 letters, digits and ._:- (a rotation request's id)"))
    if backend not in BACKENDS:
        failures.append(("backend", f"must be one of {', '.join(BACKENDS)}"))
    elif backend == "vault" and (not isinstance(vault_path, str) or not _VAULT_PATH.match(vault_path)):
        failures.append(
            ("vault_path", "the vault backend needs the key's KV path, e.g. dokploy-cloud/prod/tenants/a/ssh")
        )
    return {"comment": comment, "rotation": rotation, "backend": backend, "vault_path": vault_path}, failures


def rotation_requested(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """A rotation id that differs from the last one applied (no id: no rotation, whatever was applied)."""
    wanted = news.get("rotation")
    return bool(wanted) and wanted != olds.get("rotation")


def diff_inputs(olds: dict[str, Any], news: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return (changed keys, keys forcing replacement): nothing replaces. The comment is rewritten in place, a
    new rotation id makes a new key in place, a new backend moves the key (state <-> vault) in place."""
    changed = [key for key in ("comment",) if (olds.get(key) or "") != (news.get(key) or "")]
    if rotation_requested(olds, news):
        changed.append("rotation")
    if (olds.get("backend") or "state") != (news.get("backend") or "state") or (
        news.get("backend") == "vault" and olds.get("vault_path") != news.get("vault_path")
    ):
        changed.append("backend")
    return changed, []


def public_key_fields(public_key: str, comment: str) -> dict[str, str]:
    """The public line with ``comment`` applied, and the key's SHA256 fingerprint as ssh-keygen prints it."""
    kind, blob = public_key.split()[:2]
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    fingerprint = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    line = f"{kind} {blob} {comment}".rstrip()
    return {"public_key": line, "fingerprint": fingerprint}
