"""Pure rules of the SSH key pair provider: input checks, diff and the public key's comment and fingerprint."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

_COMMENT = re.compile(r"^[A-Za-z0-9@._+:-]{0,128}$")


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


def public_key_fields(public_key: str, comment: str) -> dict[str, str]:
    """The public line with ``comment`` applied, and the key's SHA256 fingerprint as ssh-keygen prints it."""
    kind, blob = public_key.split()[:2]
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    fingerprint = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    line = f"{kind} {blob} {comment}".rstrip()
    return {"public_key": line, "fingerprint": fingerprint}
