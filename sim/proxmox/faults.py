"""Fault injection: error rate, latency and dropped connections per path regex."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultRule:
    """Applies to requests whose /api2/json path matches ``path`` (and ``method`` if set)."""

    path: str = ".*"
    method: str | None = None
    error_rate: float = 0.0
    status: int = 500
    message: str = "simulated failure"
    latency: float = 0.0
    drop_rate: float = 0.0
    count: int | None = None
    """How many more times this rule may fire (None: unlimited), e.g. 2 for "fail twice, then recover"."""
    errors: int = field(default=0, init=False)
    """Errors this rule answered so far (for a fault report)."""
    drops: int = field(default=0, init=False)
    regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self.regex = re.compile(self.path)
        except re.error as exc:
            raise ValueError(f"path: invalid regex {self.path!r}: {exc}") from None
        for name in ("error_rate", "drop_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}: must be between 0 and 1")
        if self.latency < 0:
            raise ValueError("latency: must not be negative")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and bool(self.regex.search(path))

    def to_json(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("path", "method", "error_rate", "status", "message", "latency", "drop_rate", "errors", "drops")
        }


@dataclass
class Decision:
    """What the transport should do with one request."""

    latency: float = 0.0
    drop: bool = False
    error: tuple[int, str] | None = None


class Faults:
    """The active fault rules, with their own seeded RNG."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[FaultRule] = []
        self.rng = random.Random(seed)

    def set_rules(self, rules: list[dict[str, Any]], seed: int | None = None) -> None:
        """Replace the rules (``seed``: restart the RNG, so a run with the same requests replays)."""
        self.rules = [FaultRule(**r) for r in rules]
        if seed is not None:
            self.rng.seed(seed)

    def decide(self, method: str, path: str) -> Decision:
        out = Decision()
        for rule in self.rules:
            if not rule.matches(method, path) or rule.count == 0:
                continue
            out.latency += rule.latency
            if rule.drop_rate and self.rng.random() < rule.drop_rate:
                out.drop = True
                rule.drops += 1
            if rule.error_rate and out.error is None and self.rng.random() < rule.error_rate:
                out.error = (rule.status, rule.message)
                rule.errors += 1
                if rule.count is not None:
                    rule.count -= 1
        return out
