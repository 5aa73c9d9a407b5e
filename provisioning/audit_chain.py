"""Hash-chained audit records: each record's hash covers its fields and the previous record's hash.

A record changed, removed or reordered after it was written no longer matches the chain: :func:`verify`
names the first record that breaks it. Pruning old records (the retention setting) keeps the chain
verifiable: the oldest kept record's ``prev_hash`` is checked against the anchor the prune recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of an environment's first record."""
CHAINED_FIELDS = ("at", "env", "actor", "action", "tenant", "subject", "outcome", "detail", "request_id")


def record_hash(record: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 of the record's chained fields and ``prev_hash``, as canonical JSON (sorted keys, no spaces)."""
    body = {name: record.get(name) for name in CHAINED_FIELDS}
    body["at"] = repr(float(record["at"]))  # the float's exact text: a changed timestamp changes the hash
    body["prev_hash"] = prev_hash
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """Where verification failed: the record's id and what is wrong with it."""

    record_id: int
    reason: str


@dataclass(frozen=True)
class Verification:
    """The outcome of :func:`verify`: records checked, the head hash, and the first break (None: intact)."""

    checked: int
    head: str
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(records: Iterable[Mapping[str, Any]], anchor: str = GENESIS) -> Verification:
    """Check records (oldest first) against each other; the first must follow ``anchor``."""
    expected_prev, checked = anchor, 0
    for record in records:
        record_id = int(record["id"])
        if record.get("prev_hash") != expected_prev:
            return Verification(
                checked,
                expected_prev,
                ChainBreak(record_id, "does not follow the record before it (one was removed, inserted or reordered)"),
            )
        if record.get("hash") != record_hash(record, expected_prev):
            return Verification(
                checked,
                expected_prev,
                ChainBreak(record_id, "its content no longer matches its hash (the record was modified)"),
            )
        expected_prev, checked = str(record["hash"]), checked + 1
    return Verification(checked, expected_prev, None)
