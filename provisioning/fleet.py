"""Running one operation over many tenant stacks with bounded parallelism and live phase tracking."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass, field

from components.spec import TenantSpec
from provisioning.phases import PhaseTracker
from provisioning.runs import Operation, Runner, RunResult


@dataclass
class TenantProgress:
    """Live state of one tenant's run."""

    tenant: TenantSpec
    state: str = "queued"
    """queued, running, ok or failed."""
    tracker: PhaseTracker = field(default_factory=PhaseTracker)
    started_at: float | None = None
    result: RunResult | None = None

    @property
    def slug(self) -> str:
        """The tenant's slug."""
        return self.tenant.slug

    @property
    def elapsed(self) -> float:
        """Seconds since the run started (its whole duration once it ended)."""
        if self.started_at is None:
            return 0.0
        end = self.started_at + self.result.seconds if self.result else time.monotonic()
        return end - self.started_at


def run_fleet(
    runner: Runner,
    tenants: Iterable[TenantSpec],
    operation: Operation,
    parallel: int = 4,
    on_update: Callable[[list[TenantProgress]], None] | None = None,
) -> list[TenantProgress]:
    """Run ``operation`` on every tenant, ``parallel`` at a time; one tenant's failure never stops the others."""
    progress = [TenantProgress(tenant) for tenant in tenants]

    def notify(*_: object) -> None:
        if on_update is not None:
            on_update(progress)

    def one(item: TenantProgress) -> None:
        item.state, item.started_at = "running", time.monotonic()
        item.tracker.on_change = notify
        notify()
        try:
            item.result = runner.run(item.tenant, operation, on_event=item.tracker)
        except Exception as exc:  # a bug or an unreachable service must not take the fleet down
            item.result = RunResult(
                item.slug, operation, False, time.monotonic() - item.started_at, error=f"{type(exc).__name__}: {exc}"
            )
        item.state = "ok" if item.result.ok else "failed"
        notify()

    with futures.ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(one, progress))
    return progress
