"""The published known-answer vector (docs/signup-signature.md) is what the service signs and accepts."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.signing import SignatureError, sign, verify_signature

DOC = Path(__file__).resolve().parents[2] / "docs" / "signup-signature.md"


def _vector() -> tuple[str, int, bytes, str]:
    """(secret, timestamp, body, header) as published in the doc."""
    text = DOC.read_text(encoding="utf-8")
    row = {m[1]: m[2] for m in re.finditer(r"^\| (secret|timestamp|header) \| `([^`]+)` \|$", text, re.M)}
    body = re.search(r"```json\n(.*)\n```", text)
    assert body and set(row) == {"secret", "timestamp", "header"}, "the doc's vector table or body is missing"
    return row["secret"], int(row["timestamp"]), body[1].encode(), row["header"]


def test_service_signs_the_published_vector() -> None:
    secret, ts, body, header = _vector()
    assert len(body) == 118
    assert sign(SecretStr(secret), body, ts) == header
    independent = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    assert header == f"t={ts},v1={independent}"


def test_service_accepts_the_published_vector_and_refuses_a_changed_body() -> None:
    secret, ts, body, header = _vector()
    assert verify_signature(SecretStr(secret), header, body, window=300, now=ts + 299) == ts
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SecretStr(secret), header, body.replace(b"starter", b"business"), window=300, now=ts)
