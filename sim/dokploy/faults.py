"""Fault injection settings of the Dokploy simulator (set by CLI flags or ``/_sim/faults``)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

SETUP_FAILURES = (None, "ssh", "script")


@dataclass
class PathFault:
    """Errors and latency for procedures whose ``router.proc`` name matches ``pattern``."""

    pattern: str
    error_rate: float = 0.0
    latency: float = 0.0
    status: int = 503
    count: int | None = None  # inject at most this many errors (None: unlimited)
    errors: int = field(default=0, init=False)  # errors injected so far (for a fault report)

    def __post_init__(self) -> None:
        re.compile(self.pattern)
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate: must be between 0 and 1")
        if self.latency < 0:
            raise ValueError("latency: must be >= 0 seconds")
        if self.status not in (500, 502, 503, 504):
            raise ValueError("status: must be one of 500, 502, 503, 504")


@dataclass
class Faults:
    """All injected faults; the defaults inject nothing."""

    paths: list[PathFault] = field(default_factory=list)
    setup_failure: str | None = None  # "ssh": deployment error; "script": deployment done, validate false
    setup_failures: int = 0  # setups failed so far by ``setup_failure``
    create_fail_after_insert: int = 0  # next N server.create insert the row, then answer the opaque 400
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def configure(self, body: dict[str, Any]) -> None:
        """Replace the settings named in ``body`` (admin API / CLI)."""
        if "paths" in body:
            self.paths = [PathFault(**p) for p in body["paths"]]
        if "setup_failure" in body:
            if body["setup_failure"] not in SETUP_FAILURES:
                raise ValueError("setup_failure: must be null, 'ssh' or 'script'")
            self.setup_failure = body["setup_failure"]
        if "create_fail_after_insert" in body:
            self.create_fail_after_insert = int(body["create_fail_after_insert"])
        if "seed" in body:
            self.rng.seed(body["seed"])

    def for_procedure(self, procedure: str) -> tuple[float, int | None]:
        """(latency seconds, error status or None) to apply to one call of ``procedure``."""
        latency, status = 0.0, None
        for fault in self.paths:
            if re.search(fault.pattern, procedure):
                latency += fault.latency
                if status is None and fault.count != 0 and fault.error_rate and self.rng.random() < fault.error_rate:
                    status = fault.status
                    fault.errors += 1
                    fault.count = None if fault.count is None else fault.count - 1
        return latency, status

    def to_json(self) -> dict[str, Any]:
        return {
            "paths": [vars(p) for p in self.paths],
            "setup_failure": self.setup_failure,
            "setup_failures": self.setup_failures,
            "create_fail_after_insert": self.create_fail_after_insert,
        }
