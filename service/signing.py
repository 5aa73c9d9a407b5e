"""HMAC-SHA256 signatures of signup webhooks: ``X-Signature: t=<unix>,v1=<hex>`` over ``t + "." + body``."""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

HEADER = "X-Signature"


class SignatureError(ValueError):
    """The signature header is missing, malformed, stale or does not match (message safe to return)."""


def sign(secret: SecretStr, body: bytes, timestamp: int | None = None) -> str:
    """The header value signing ``body`` at ``timestamp`` (default now): what a sender computes."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.get_secret_value().encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def verify_signature(secret: SecretStr, header: str | None, body: bytes, window: int, now: float | None = None) -> int:
    """Check ``header`` against ``body``; return its timestamp or raise :class:`SignatureError`."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {HEADER} header: expected t=<unix>,v1=<hex>")
        parts.setdefault(key, []).append(value)
    stamps, candidates = parts.get("t", []), parts.get("v1", [])
    # isdigit() alone accepts "²", which int() refuses: only ASCII decimals are a timestamp.
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdecimal()) or not candidates:
        raise SignatureError(f"malformed {HEADER} header: expected t=<unix>,v1=<hex>")
    timestamp = int(stamps[0])
    current = time.time() if now is None else now
    if abs(current - timestamp) > window:
        raise SignatureError(f"{HEADER} timestamp is outside the {window} s window")
    expected = sign(secret, body, timestamp).split("v1=", 1)[1].encode()
    # compare_digest refuses non-ASCII str; bytes compare any header a client sends (a mismatch is 401).
    if not any(hmac.compare_digest(expected, c.encode("utf-8", "surrogateescape")) for c in candidates):
        raise SignatureError(f"{HEADER} does not match the body")
    return timestamp
