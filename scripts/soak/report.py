"""The soak's report: faults injected, operations and jobs, time to converge, invariants; a table and JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from provisioning.failures import error_summary
from scripts.soak.invariants import Invariant


@dataclass
class JobCounts:
    """Jobs of one kind: how many ran, ended well, needed more than one attempt, failed for good."""

    attempted: int = 0
    succeeded: int = 0
    retried: int = 0
    failed_for_good: int = 0
    cancelled: int = 0


@dataclass
class SoakReport:
    seed: int
    minutes: float
    episodes: dict[str, int]
    injected: dict[str, int]
    fault_errors: list[str]
    requests: dict[str, dict[str, int]]
    """action -> sent, resent (after an error or a 5xx), never accepted."""
    jobs: dict[str, JobCounts]
    failures: list[str]
    """``kind slug (attempts): error`` of every job that failed for good (first line of its error)."""
    repaired: list[str]
    """Tenants whose last job had failed for good, re-applied by the soak as an operator would."""
    seconds_to_converge: float
    """From the last fault lifted until every job had ended (before any repair)."""
    seconds_to_repair: float
    invariants: list[Invariant] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(i.holds for i in self.invariants)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))

    def lines(self) -> list[str]:
        """The report as tables."""
        out = [f"soak: {self.minutes:g} min of traffic, seed {self.seed}", ""]
        out += ["fault                          injected", "-" * 40]
        out += [f"{kind:<30} {n:>8}" for kind, n in sorted(self.episodes.items())]
        out += [f"{kind:<30} {n:>8}" for kind, n in self.injected.items()]
        out += [f"  could not inject: {e}" for e in self.fault_errors]
        out += ["", f"{'request':<30} {'sent':>6} {'resent':>7} {'refused':>8}", "-" * 54]
        for what, c in sorted(self.requests.items()):
            out.append(f"{what:<30} {c['sent']:>6} {c['resent']:>7} {c['never_accepted']:>8}")
        out += [
            "",
            f"{'job kind':<14} {'attempted':>9} {'succeeded':>9} {'retried':>8} "
            f"{'failed for good':>16} {'cancelled':>9}",
            "-" * 70,
        ]
        for kind, j in sorted(self.jobs.items()):
            out.append(
                f"{kind:<14} {j.attempted:>9} {j.succeeded:>9} {j.retried:>8} {j.failed_for_good:>16} {j.cancelled:>9}"
            )
        if self.failures:
            out += ["", "jobs that failed for good (kind, tenant, attempts: the error's first line):"]
            out += [f"    {f}" for f in self.failures]
        out += [
            "",
            f"time to converge after the last fault: {self.seconds_to_converge:.1f} s (every job ended)",
            f"re-applied by the operator afterwards: {len(self.repaired)} tenant(s) {' '.join(self.repaired)}"
            + (f", done in {self.seconds_to_repair:.1f} s" if self.repaired else ""),
            "",
            f"{'invariant':<82} result",
            "-" * 90,
        ]
        for inv in self.invariants:
            out.append(f"{inv.name:<82} {'holds' if inv.holds else 'BROKEN'}")
            out += [f"    {b}" for b in inv.broken[:10]]
            if len(inv.broken) > 10:
                out.append(f"    ... {len(inv.broken) - 10} more")
        out.append(f"\nresult: {'every invariant holds' if self.ok else 'INVARIANTS BROKEN'}")
        return out


def job_counts(jobs: list[Any]) -> dict[str, JobCounts]:
    """Per job kind, from the queue's jobs."""
    out: dict[str, JobCounts] = {}
    for job in jobs:
        c = out.setdefault(job.kind, JobCounts())
        c.attempted += 1
        c.succeeded += job.state == "succeeded"
        c.retried += job.attempts > 1
        c.failed_for_good += job.state == "failed"
        c.cancelled += job.state == "cancelled"
    return out


def request_counts(sent: Counter[str], resent: Counter[str], unsent: list[str]) -> dict[str, dict[str, int]]:
    never = Counter(unsent)
    return {w: {"sent": n, "resent": resent[w], "never_accepted": never[w]} for w, n in sent.items()}


def failure_lines(jobs: list[Any]) -> list[str]:
    """One line per job that failed for good."""
    out = []
    for job in jobs:
        if job.state == "failed":
            out.append(f"{job.kind} {job.slug} ({job.attempts}): {error_summary(job.error)}")
    return out
